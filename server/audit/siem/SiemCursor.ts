import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigurationError } from '../../ConfigurationError';
import { replaceDurably } from '../../durableFiles';
import { JobLockLost } from '../../storage/exclusiveJob';

/**
 * The SIEM stream's durable cursor, `siem-cursor` in the relay's data directory: the last record the
 * receiver accepted, `{"seq":N,"hash":"…"}`. It is replaced and fsynced after every batch the receiver
 * accepts, so a stopped or crashed relay resends at most the batch that was in flight. The hash tells a
 * log restored from a backup (the record at that seq is another one, or gone) from the log it was.
 * An operator may write `{"seq":N}` (no hash) with the relay stopped to resend everything after record N.
 */
export const SIEM_CURSOR_FILE = 'siem-cursor';

const CursorSchema = z.strictObject({
  seq: z.number().int().min(0),
  hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type SiemCursor = z.infer<typeof CursorSchema>;

/** Where the stream keeps its cursor: a file in the data directory, or the store several instances share. */
export interface SiemCursorStore {
  /** For the relay's log: where the cursor is. */
  readonly where: string;
  /** The cursor; `{ seq: 0 }` (send everything) when there is none yet. */
  read(): Promise<SiemCursor>;
  write(cursor: SiemCursor): Promise<void>;
}

export class SiemCursorFile implements SiemCursorStore {
  constructor(readonly path: string) {}

  get where(): string {
    return this.path;
  }

  async read(): Promise<SiemCursor> {
    return this.readNow();
  }

  async write(cursor: SiemCursor): Promise<void> {
    this.writeNow(cursor);
  }

  /** The cursor; `{ seq: 0 }` (send everything) when there is none yet. */
  readNow(): SiemCursor {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0 };
      throw new ConfigurationError(`cannot read the SIEM cursor ${this.path}: ${(error as Error).message}`);
    }
    let parsed: ReturnType<typeof CursorSchema.safeParse> | undefined;
    try {
      parsed = CursorSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      throw new ConfigurationError(`the SIEM cursor ${this.path} is not {"seq":N} or {"seq":N,"hash":"…"}: with the relay stopped, write {"seq":N} into it to resend every record after N (0: the whole log)`);
    }
    return parsed.data;
  }

  writeNow(cursor: SiemCursor): void {
    replaceDurably(this.path, `${JSON.stringify(cursor)}\n`, 0o600);
  }
}

/**
 * The cursor several relay instances share, in their store (RelayStore.claimSiemCursor): read by claiming it
 * for this turn (a fresh token), moved only while the turn is still the one that claimed it last, so an
 * instance whose turn ended with a batch in flight cannot set it back (JobLockLost instead). The first time,
 * a store that holds none takes this instance's file's (a site that streamed from one relay before it had
 * several goes on from where that one was, instead of sending the whole log again).
 */
export class SharedSiemCursor implements SiemCursorStore {
  readonly where = 'the database the relay instances share';
  readonly #turn = randomUUID();

  constructor(
    private readonly store: {
      claimSiemCursor(owner: string, seed: SiemCursor): Promise<{ seq: number; hash?: string }>;
      writeSiemCursor(cursor: SiemCursor, owner: string): Promise<boolean>;
    },
    private readonly earlier: SiemCursorFile,
  ) {}

  async read(): Promise<SiemCursor> {
    return CursorSchema.parse(await this.store.claimSiemCursor(this.#turn, this.earlier.readNow()));
  }

  async write(cursor: SiemCursor): Promise<void> {
    if (!(await this.store.writeSiemCursor(cursor, this.#turn))) throw new JobLockLost(SIEM_STREAM_JOB);
  }
}

/** The job lock of the SIEM stream (RelayStore.withExclusiveJob): one relay instance streams at a time. */
export const SIEM_STREAM_JOB = 'siem-stream';
