import type { RelayStore } from '../storage/RelayStore';
import type { MethodTimes, StoreLatency } from './StoreLatency';

/**
 * The store as the relay's services see it: every method call that returns a promise is timed into
 * `seconds` (labelled by method) when it settles, whether it resolved or failed. Cheap: one wrapper per method,
 * made on its first call; each call then costs the proxy's lookup, two readings of the monotonic clock, an
 * async frame and a few comparisons (StoreLatency). Anything that is not a method passes through.
 */
export function timedStore<S extends RelayStore>(store: S, seconds: StoreLatency): S {
  // Keyed by the function, not its name: a method replaced on the store (as tests do) gets its own wrapper.
  const wrappers = new WeakMap<object, unknown>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'constructor') return value;
      let wrapper = wrappers.get(value);
      if (wrapper === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        const times = seconds.of(property);
        wrapper = function timed(...args: unknown[]): unknown {
          const started = performance.now();
          const result = method.apply(target, args);
          // A method that returns no promise (none of RelayStore's; a store's own extras) is not timed, nor changed.
          return result instanceof Promise ? settled(result, started, times) : result;
        };
        wrappers.set(value, wrapper);
      }
      return wrapper;
    },
  });
}

/** `result`, once settled, with its time observed. Awaiting it in an async function costs V8 less than adding reactions to it. */
async function settled(result: Promise<unknown>, started: number, times: MethodTimes): Promise<unknown> {
  try {
    return await result;
  } finally {
    times.observe((performance.now() - started) / 1000);
  }
}
