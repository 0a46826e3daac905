/*
 * Telling connected workstations that colleagues' statuses changed (issue 19), so their lists and headers follow
 * at once instead of at their next minute's reading. What goes out is only which users changed, never the status
 * itself: a workstation that shows one of them reads it (GET /v1/presence, with its forwarding proof), the rest
 * ignore the hint, so no note or forward-to reaches a workstation that did not ask for it. Changes are gathered for
 * ANNOUNCE_EVERY_MS and sent together, so a clinician changing their status over and over (up to the presence rate
 * limit) costs every workstation at most one small frame a second, whoever changes it.
 */
import type { UserId } from '../../shared/ids';
import { MAX_PRESENCE_CHANGED_USERS, type ServerFrame } from '../../shared/wire/relay';

/** How long changes are gathered before the workstations hear of them. */
export const ANNOUNCE_EVERY_MS = 1000;

export interface PresenceAudience {
  /** Sends one frame to every connected device (those far behind in reading theirs are skipped: they read later). */
  broadcast(frame: ServerFrame): void;
}

export class PresenceAnnouncements {
  readonly #pending = new Set<UserId>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly audience: PresenceAudience, private readonly everyMs = ANNOUNCE_EVERY_MS) {}

  /** These users' statuses changed (here, or on another relay instance): the workstations hear of it shortly. */
  changed(userIds: readonly UserId[]): void {
    for (const id of userIds) this.#pending.add(id);
    if (this.#pending.size === 0 || this.#timer) return;
    this.#timer = setTimeout(() => this.flush(), this.everyMs);
    this.#timer.unref();
  }

  /** Sends what has gathered now (also what the timer does). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const ids = [...this.#pending];
    this.#pending.clear();
    for (let i = 0; i < ids.length; i += MAX_PRESENCE_CHANGED_USERS) {
      this.audience.broadcast({ type: 'presenceChanged', userIds: ids.slice(i, i + MAX_PRESENCE_CHANGED_USERS) });
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
  }
}
