import * as m0001 from './0001-initial';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
}

/** Every migration, in order. A new schema version is a new file here; applied ones never change. */
export const MIGRATIONS: readonly Migration[] = [{ version: 1, ...m0001 }];
