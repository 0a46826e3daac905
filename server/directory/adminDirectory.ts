/*
 * The admin's command line as a provisioning source: `rounds-server user add/update` set an account's display
 * name and directory fields by hand, audited as `user.updated` with the admin's actor (`admin:<os account>`)
 * and source 'admin', like every other source's changes.
 */
import { z } from 'zod';
import { ContactSchema, DepartmentSchema, JobTitleSchema } from '../../shared/wire/directory';
import { DisplayNameSchema } from '../../shared/wire/relay';
import { RelayFailure } from '../RelayFailure';
import type { DirectoryField, RelayStore, UserPatch } from '../storage/RelayStore';
import { changeDetails, clearable, sourceDetails } from './provisioning';

export const DepartmentOptionSchema = clearable(DepartmentSchema);
export const JobTitleOptionSchema = clearable(JobTitleSchema);
export const ContactOptionSchema = clearable(ContactSchema);

export interface DirectoryFieldsPatch {
  readonly displayName?: string;
  readonly department?: string | null;
  readonly jobTitle?: string | null;
  readonly contact?: string | null;
}

const FieldsSchema = z.strictObject({
  displayName: DisplayNameSchema.optional(),
  department: DepartmentOptionSchema.optional(),
  jobTitle: JobTitleOptionSchema.optional(),
  contact: ContactOptionSchema.optional(),
});

/**
 * Sets the account's display name and directory fields that `fields` names (others are left alone); returns
 * the fields that changed (none: nothing written, nothing audited).
 */
export async function updateDirectoryFields(store: RelayStore, admin: string, username: string, fields: DirectoryFieldsPatch): Promise<DirectoryField[]> {
  const parsed = FieldsSchema.safeParse(fields);
  if (!parsed.success) throw new RelayFailure('BAD_REQUEST', `${parsed.error.issues[0]?.path.join('.') ?? 'fields'}: ${parsed.error.issues[0]?.message ?? 'not valid'}`);
  const user = await store.userByUsername(username);
  if (!user) throw new RelayFailure('NOT_FOUND', `no user ${username}`);
  const patch: UserPatch = Object.fromEntries(Object.entries(parsed.data).filter(([field, value]) => value !== undefined && user[field as keyof DirectoryFieldsPatch] !== value));
  const changed = Object.keys(patch) as DirectoryField[];
  if (changed.length === 0) return [];
  const values = { ...user, ...patch };
  await store.updateUser(user.id, patch, [{ type: 'user.updated', actor: admin, subject: user.id, details: { ...sourceDetails({ kind: 'admin', actor: admin }), ...changeDetails(changed, values) } }]);
  return changed;
}
