/**
 * SCIM groups belong to the token source that made them: the embedded store's migration 0021, whose statements
 * read the same in PostgreSQL but for the current time (see there for what it does and why).
 */
import { groupOwners } from '../../sqlite/migrations/0021-scim-group-owners';

export const name = 'scim-group-owners';

export const up = groupOwners('(extract(epoch FROM now()) * 1000)::BIGINT');
