/** How many keys one profile's session remembers (the oldest go first): far more than a shift's acknowledgements. */
const KEPT = 10_000;

/**
 * What the window has announced to the clinician in the open profile's session (`announcements.fresh`): keys made
 * of ids and times only, in this process's memory, never on disk. It outlives a lock (the desktop app reloads its
 * page on each, which takes the page's own memory) but not the profile: another profile, or the profile chooser
 * (switch user), starts anew.
 */
export class AnnouncedKeys {
  #profileId: string | null = null;
  readonly #keys = new Set<string>();

  /** The keys of `keys` not announced before in `profileId`'s session, now remembered as announced. */
  take(profileId: string, keys: readonly string[]): string[] {
    if (profileId !== this.#profileId) this.forget();
    this.#profileId = profileId;
    const fresh = [...new Set(keys)].filter((key) => !this.#keys.has(key));
    for (const key of fresh) {
      this.#keys.add(key);
      if (this.#keys.size > KEPT) this.#keys.delete(this.#keys.values().next().value as string);
    }
    return fresh;
  }

  /** The session is over (switch user): nothing announced is remembered. */
  forget(): void {
    this.#profileId = null;
    this.#keys.clear();
  }
}
