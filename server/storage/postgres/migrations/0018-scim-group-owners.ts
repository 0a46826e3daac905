/**
 * SCIM groups belong to the token source that made them: the embedded store's migration 0022, whose statements
 * read the same in PostgreSQL (see there for what it does and why).
 */
export { name, up } from '../../sqlite/migrations/0021-scim-group-owners';
