/*
 * The Argon2id parameters for passwords (server/auth/passwords.ts hashes with them), apart from the argon2
 * binding: the relay's config and `serve`'s option defaults name them without loading it.
 */
export interface Argon2Params {
  readonly memoryKiB: number;
  readonly passes: number;
  readonly parallelism: number;
}

export const DEFAULT_ARGON2: Argon2Params = { memoryKiB: 64 * 1024, passes: 3, parallelism: 4 };
