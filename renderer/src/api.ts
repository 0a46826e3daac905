import type { CommandInput, CommandName, CommandOutput, ContractError, RoundsBridge, UiEvent } from '../../shared/contract';

declare global {
  interface Window {
    /** Put there by the Electron preload, or by the browser harness's bridge script. */
    rounds?: RoundsBridge;
  }
}

/** A command that ended with a typed error; `error.code` decides the wording, never `message`. */
export class CallError extends Error {
  constructor(readonly error: ContractError) {
    super(error.message);
  }
}

export interface Api {
  call<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>>;
  subscribe(listener: (event: UiEvent) => void): () => void;
}

export function createApi(bridge: RoundsBridge): Api {
  return {
    async call(command, input) {
      const result = await bridge.invoke(command, input);
      if (!result.ok) throw new CallError(result.error);
      return result.value;
    },
    subscribe: (listener) => bridge.subscribe(listener),
  };
}
