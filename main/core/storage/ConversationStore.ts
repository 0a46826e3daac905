import type { ContactView, ConversationView } from '../../../shared/contract';
import type { CareTeamPayload } from '../../../shared/payload';
import type { ConversationId, UserId } from '../../../shared/ids';
import type { DirectoryEntry } from '../../../shared/wire/relay';
import type { CareTeamMembership } from '../crypto/CareTeamCipher';
import type { SqlRunner } from './ProfileDatabase';
import { RoleConversationStore } from './RoleConversationStore';

export interface CareTeamState {
  readonly id: ConversationId;
  readonly title: string;
  readonly epoch: number;
  readonly epochBy: UserId | null;
  readonly isMember: boolean;
  readonly members: readonly UserId[];
}

/** A conversation as the list shows it: the contract's view, so the core and the UI cannot drift apart. */
export type ConversationSummary = ConversationView;
/** A colleague as the directory names them (whether they can be reached is the directory's latest word, not stored). */
export type Contact = Omit<ContactView, 'reachable'>;

/**
 * How far ahead of the held version an update may jump (a device that missed some changes still catches
 * up; a member cannot push the number out of reach of everyone else).
 */
export const MAX_EPOCH_STEP = 100;

interface ConversationRow { id: string; kind: 'direct' | 'careTeam'; peer: string | null; title: string | null; epoch: number; epoch_by: string | null; is_member: number; created_at: number }

/**
 * Conversations, care-team membership and contacts of one local profile (inside its encrypted database).
 * It is also the care-team membership the protocol core consults on every care-team message.
 */
export class ConversationStore implements CareTeamMembership {
  constructor(private readonly db: SqlRunner) {}

  isCareTeam(conversationId: ConversationId): boolean {
    return this.db.get<{ kind: string }>('SELECT kind FROM conversations WHERE id = $id', { id: conversationId })?.kind === 'careTeam';
  }

  isMember(conversationId: ConversationId, userId: UserId): boolean {
    return this.db.get('SELECT 1 AS yes FROM care_team_members WHERE conversation_id = $c AND user_id = $u', { c: conversationId, u: userId }) !== undefined;
  }

  /** Records a 1:1 conversation the first time a message goes or comes through it. */
  ensureDirect(id: ConversationId, peer: UserId, at: number): void {
    this.db.run(`INSERT OR IGNORE INTO conversations (id, kind, peer, created_at) VALUES ($id, 'direct', $peer, $at)`, { id, peer, at });
  }

  /** The other user of a 1:1 conversation. */
  peer(id: ConversationId): UserId | undefined {
    return (this.db.get<{ peer: string | null }>(`SELECT peer FROM conversations WHERE id = $id AND kind = 'direct'`, { id })?.peer ?? undefined) as UserId | undefined;
  }

  careTeam(id: ConversationId): CareTeamState | undefined {
    const row = this.db.get<ConversationRow>(`SELECT * FROM conversations WHERE id = $id AND kind = 'careTeam'`, { id });
    if (!row) return undefined;
    return { id, title: row.title ?? '', epoch: row.epoch, epochBy: row.epoch_by as UserId | null, isMember: row.is_member === 1, members: this.#members(id) };
  }

  /**
   * Applies a version of a care team (one we made, or one a member sent); returns whether it changed
   * anything. The rules give every device the same team whatever order updates arrive in:
   * - a team we do not know: its first version we see must name both its sender and us;
   * - a later version (at most MAX_EPOCH_STEP ahead) must come from a current member;
   * - a version with the same number as the one held (two changes made at once) replaces it only if its
   *   author's user id is greater, and only if the author was a member of the version both replaced.
   */
  applyCareTeam(update: CareTeamPayload, by: UserId, self: UserId, at: number): boolean {
    return this.db.transaction(() => {
      const existing = this.db.get<ConversationRow & { prev_members: string }>('SELECT * FROM conversations WHERE id = $id', { id: update.conversationId });
      const members = [...new Set(update.members)];
      let prev: readonly UserId[];
      if (!existing) {
        if (!members.includes(self) || !members.includes(by)) return false;
        prev = [];
      } else {
        if (existing.kind !== 'careTeam') return false;
        const current = this.#members(update.conversationId);
        // The version we hold, announced again (to a member's new device alongside a sender key): nothing to do.
        if (update.epoch === existing.epoch && update.title === existing.title && sameMembers(members, current)) return false;
        if (update.epoch > existing.epoch && update.epoch - existing.epoch <= MAX_EPOCH_STEP && current.includes(by)) {
          prev = current;
        } else if (update.epoch === existing.epoch && existing.epoch_by !== null && by > existing.epoch_by && (JSON.parse(existing.prev_members) as UserId[]).includes(by)) {
          prev = JSON.parse(existing.prev_members) as UserId[];
        } else {
          return false;
        }
      }
      const isMember = members.includes(self);
      this.db.run(
        `INSERT INTO conversations (id, kind, title, epoch, epoch_by, is_member, prev_members, created_at) VALUES ($id, 'careTeam', $title, $epoch, $by, $member, $prev, $at)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, epoch = excluded.epoch, epoch_by = excluded.epoch_by, is_member = excluded.is_member, prev_members = excluded.prev_members`,
        { id: update.conversationId, title: update.title, epoch: update.epoch, by, member: isMember ? 1 : 0, prev: JSON.stringify(prev), at },
      );
      this.db.run('DELETE FROM care_team_members WHERE conversation_id = $id', { id: update.conversationId });
      for (const userId of members) this.db.run('INSERT INTO care_team_members (conversation_id, user_id) VALUES ($c, $u)', { c: update.conversationId, u: userId });
      return true;
    });
  }

  /** Every conversation with unread counts, most recent activity first. */
  list(self: UserId): ConversationSummary[] {
    const rows = this.db.all<ConversationRow & { unread: number; unread_urgent: number; last_at: number | null; contact_name: string | null; contact_username: string | null }>(
      `SELECT c.*, ct.display_name AS contact_name, ct.username AS contact_username,
         (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.read_at IS NULL AND m.sender_user != $self) AS unread,
         (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.read_at IS NULL AND m.sender_user != $self AND m.urgent = 1) AS unread_urgent,
         (SELECT max(m.received_at) FROM messages m WHERE m.conversation_id = c.id) AS last_at
       FROM conversations c LEFT JOIN contacts ct ON ct.user_id = c.peer`,
      { self },
    );
    return rows
      .map((r): ConversationSummary => ({
        id: r.id as ConversationId,
        kind: r.kind,
        title: titleOf(r),
        peer: r.peer as UserId | null,
        members: r.kind === 'careTeam' ? this.#members(r.id as ConversationId) : [],
        isMember: r.is_member === 1,
        unread: r.unread,
        unreadUrgent: r.unread_urgent,
        lastActivity: r.last_at ?? r.created_at,
      }))
      .concat(this.#roleConversations(self))
      .sort((a, b) => b.lastActivity - a.lastActivity || a.id.localeCompare(b.id));
  }

  /** Conversations with on-call roles (issue 19; RoleConversationStore.ts), as the list shows them. */
  #roleConversations(self: UserId): ConversationSummary[] {
    const rows = this.db.all<{ id: string; role_id: string; role_name: string; initiator: string; holders: string; created_at: number; unread: number; unread_urgent: number; last_at: number | null; initiator_name: string | null }>(
      `SELECT r.*, ct.display_name AS initiator_name,
         (SELECT count(*) FROM messages m WHERE m.conversation_id = r.id AND m.read_at IS NULL AND m.sender_user != $self) AS unread,
         (SELECT count(*) FROM messages m WHERE m.conversation_id = r.id AND m.read_at IS NULL AND m.sender_user != $self AND m.urgent = 1) AS unread_urgent,
         (SELECT max(m.received_at) FROM messages m WHERE m.conversation_id = r.id) AS last_at
       FROM role_conversations r LEFT JOIN contacts ct ON ct.user_id = r.initiator`,
      { self },
    );
    return rows.map((r) => {
      const role = new RoleConversationStore(this.db).get(r.id as ConversationId);
      return {
        // A holder may have many conversations with one role, one per colleague who wrote to it: named after both.
        id: r.id as ConversationId, kind: 'role', title: r.initiator === self ? r.role_name : `${r.role_name} · from ${r.initiator_name ?? 'a colleague'}`, peer: null, members: role?.holders.map((h) => h.userId) ?? [], isMember: true,
        unread: r.unread, unreadUrgent: r.unread_urgent, lastActivity: r.last_at ?? r.created_at,
        role: role ? { id: role.roleId, name: role.roleName, initiator: role.initiator, holders: [...role.holders] } : null,
      };
    });
  }

  /** Keeps the directory's names, so titles and senders read well offline. */
  saveContacts(entries: readonly DirectoryEntry[], at: number): void {
    this.db.transaction(() => {
      for (const e of entries) {
        this.db.run(
          `INSERT INTO contacts (user_id, username, display_name, role, updated_at) VALUES ($u, $name, $display, $role, $at)
           ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, display_name = excluded.display_name, role = excluded.role, updated_at = excluded.updated_at`,
          { u: e.userId, name: e.username, display: e.displayName, role: e.role, at },
        );
      }
    });
  }

  /** The title of one conversation (a notification's, without reading the whole list). */
  title(id: ConversationId): { kind: 'direct' | 'careTeam' | 'role'; title: string } | undefined {
    const row = this.db.get<ConversationRow & { contact_name: string | null; contact_username: string | null }>(
      'SELECT c.*, ct.display_name AS contact_name, ct.username AS contact_username FROM conversations c LEFT JOIN contacts ct ON ct.user_id = c.peer WHERE c.id = $id',
      { id },
    );
    if (row) return { kind: row.kind, title: titleOf(row) };
    const role = new RoleConversationStore(this.db).get(id);
    return role && { kind: 'role', title: role.roleName };
  }

  /** One colleague's name, as the directory last gave it. */
  displayName(userId: UserId): string | undefined {
    return this.db.get<{ display_name: string }>('SELECT display_name FROM contacts WHERE user_id = $u', { u: userId })?.display_name;
  }

  contacts(): Contact[] {
    return this.db.all<{ user_id: string; username: string; display_name: string; role: Contact['role'] }>('SELECT user_id, username, display_name, role FROM contacts ORDER BY display_name, username')
      .map((r) => ({ userId: r.user_id as UserId, username: r.username, displayName: r.display_name, role: r.role }));
  }

  #members(id: ConversationId): UserId[] {
    return this.db.all<{ user_id: string }>('SELECT user_id FROM care_team_members WHERE conversation_id = $c ORDER BY user_id', { c: id }).map((r) => r.user_id as UserId);
  }
}

function sameMembers(a: readonly UserId[], b: readonly UserId[]): boolean {
  return a.length === b.length && a.every((u) => b.includes(u));
}

/** A care team's name, or the other clinician's display name (their username until the directory is read). */
function titleOf(r: { kind: 'direct' | 'careTeam'; title: string | null; contact_name: string | null; contact_username: string | null }): string {
  return r.kind === 'careTeam' ? (r.title ?? '') : (r.contact_name ?? r.contact_username ?? 'Unknown contact');
}
