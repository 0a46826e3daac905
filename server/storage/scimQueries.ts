/*
 * The conditions of ScimStore's queries, the same on both stores: which accounts SCIM sees, how each filter
 * condition is matched, and the SQL they make with each store's placeholders (SQLite's `$name`,
 * PostgreSQL's `$n`). Values are always bound, never spliced into the text.
 */
import { groupNameKey } from '../directory/scimGroupChanges';
import type { ScimGroupQuery, ScimUserQuery } from './ScimStore';

/** Accounts SCIM may see: clinicians it has not deleted (admin and compliance accounts are the relay's own). */
export const SCIM_VISIBLE_USERS = `role = 'clinician' AND id NOT IN (SELECT user_id FROM scim_deleted_users)`;

/** Each condition as [the values it must equal, the clause with `$v` where each goes]. */
type Conditions = readonly (readonly [readonly string[] | undefined, string])[];

export function userConditions(query: ScimUserQuery): Conditions {
  return [
    [query.ids, 'id = $v'],
    [query.usernames, 'username = $v'],
    // An account SCIM did not make is shown with its username as externalId (StoreScimDirectory.scimPerson).
    [query.externalIds, `((source = 'scim' AND external_id = $v) OR (source <> 'scim' AND username = lower($v)))`],
    [query.displayNames, 'lower(display_name) = lower($v)'],
  ];
}

export function groupConditions(query: ScimGroupQuery): Conditions {
  return [
    [query.owner === undefined ? undefined : [query.owner], 'owner = $v'],
    [query.ids, 'id = $v'],
    [query.externalIds, 'external_id = $v'],
    [query.displayNames?.map(groupNameKey), 'name_key = $v'],
    [query.members, 'id IN (SELECT group_id FROM scim_group_members WHERE user_id = $v)'],
  ];
}

/** `base AND` every condition, with `placeholder(i)` for the i-th value (from 0), and the values in order. */
export function whereClause(base: string, conditions: Conditions, placeholder: (index: number) => string): { where: string; values: string[] } {
  const clauses = [base];
  const values: string[] = [];
  for (const [each, template] of conditions) {
    for (const value of each ?? []) {
      clauses.push(template.replaceAll('$v', placeholder(values.length)));
      values.push(value);
    }
  }
  return { where: clauses.join(' AND '), values };
}
