import { z } from 'zod';
import type { ConversationId, UserId } from '../../../shared/ids';
import { RoleHolderSchema, type RoleHolder, type RoleId } from '../../../shared/wire/roles';
import type { SqlRunner } from './ProfileDatabase';

/*
 * Conversations with on-call roles (issue 19) in the profile: the role's id and name as last seen, who started
 * the conversation (its id is derived from the two: roleConversation.ts), and the holders the last message
 * went to or came from (the header, and whether the next message is a hand-over).
 */

export interface RoleConversation {
  readonly id: ConversationId;
  readonly roleId: RoleId;
  readonly roleName: string;
  readonly initiator: UserId;
  readonly holders: readonly RoleHolder[];
  readonly createdAt: number;
}

interface Row { id: string; role_id: string; role_name: string; initiator: string; holders: string; created_at: number }

const HoldersSchema = z.array(RoleHolderSchema);

function toConversation(r: Row): RoleConversation {
  return { ...fields(r), holders: storedHolders(r.holders) };
}

/** The stored holders; anything unreadable (written by a later version) reads as unknown (none). */
function storedHolders(json: string): RoleHolder[] {
  try {
    return HoldersSchema.parse(JSON.parse(json));
  } catch {
    return [];
  }
}

function fields(r: Row): Omit<RoleConversation, 'holders'> {
  return { id: r.id as ConversationId, roleId: r.role_id as RoleId, roleName: r.role_name, initiator: r.initiator as UserId, createdAt: r.created_at };
}

export class RoleConversationStore {
  constructor(private readonly db: SqlRunner) {}

  /** Records the conversation the first time it is opened or a message comes through it, with the role name it was first given (a payload's name is its sender's word; the header shows the relay's). */
  ensure(id: ConversationId, roleId: RoleId, roleName: string, initiator: UserId, at: number): void {
    this.db.run(
      `INSERT INTO role_conversations (id, role_id, role_name, initiator, created_at) VALUES ($id, $role, $name, $initiator, $at)
       ON CONFLICT (id) DO NOTHING`,
      { id, role: roleId, name: roleName, initiator, at },
    );
  }

  get(id: ConversationId): RoleConversation | undefined {
    const row = this.db.get<Row>('SELECT * FROM role_conversations WHERE id = $id', { id });
    return row && toConversation(row);
  }

  all(): RoleConversation[] {
    return this.db.all<Row>('SELECT * FROM role_conversations ORDER BY created_at, id').map(toConversation);
  }

  /** The holders the latest message went to (or came from). */
  setHolders(id: ConversationId, holders: readonly RoleHolder[]): void {
    this.db.run('UPDATE role_conversations SET holders = $holders WHERE id = $id', { id, holders: JSON.stringify(holders) });
  }
}
