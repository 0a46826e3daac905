import * as m0001 from './0001-profile';

export interface ProfileMigration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
}

/** Every migration of the profile database, in order; applied ones never change. */
export const PROFILE_MIGRATIONS: readonly ProfileMigration[] = [{ version: 1, ...m0001 }];
