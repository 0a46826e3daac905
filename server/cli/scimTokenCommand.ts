/*
 * `rounds-server scim token create|list|revoke` (issue 18): the bearer tokens identity providers provision
 * accounts with at /scim/v2. A token is printed once and stored only as its hash; each creation and
 * revocation is audited with the admin's actor and the token's name (never the token). Every token expires
 * (`--expires-in`, default SCIM_TOKEN_DEFAULT_DAYS, at most SCIM_TOKEN_MAX_DAYS; there is no "never").
 */
import { InvalidArgumentError, type Command } from 'commander';
import {
  describeScimTokenExpiry, newScimToken, parseScimTokenLifetimeDays, SCIM_TOKEN_DEFAULT_DAYS, SCIM_TOKEN_MAX_DAYS, scimTokenExpiry, scimTokenHash, ScimTokenNameSchema, scimTokensNearExpiry,
} from '../scim/scimTokens';
import { dataOption, databasePasswordFileOption, keyFileOption, siteDatabaseOption, validated, withStore, type DataOptions } from '../cliOptions';
import { RelayFailure } from '../RelayFailure';

export function addScimCommands(program: Command, admin: string): void {
  const token = program.command('scim').description('SCIM 2.0 provisioning from Entra ID, Okta and others, at https://<relay>/scim/v2')
    .command('token').description('the bearer tokens identity providers provision with');
  const withData = (command: Command) => command.addOption(dataOption()).addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption());

  withData(token.command('create').description('make a token and print it once (the relay keeps only its hash)'))
    .requiredOption('--name <name>', 'what the audit log calls it, e.g. entra-prod', validated(ScimTokenNameSchema, 'token name'))
    .option('--expires-in <days>', `how long it works, in days (1 to ${SCIM_TOKEN_MAX_DAYS}; tokens always expire)`, lifetimeDays, SCIM_TOKEN_DEFAULT_DAYS)
    .option('--replaces <name>', 'the token this one replaces at the same provider: it keeps that token\'s groups', validated(ScimTokenNameSchema, 'token name'))
    .action(async (opts: DataOptions & { name: string; expiresIn: number; replaces?: string }) => withStore(admin, opts, async (store) => {
      const secret = newScimToken();
      const now = Date.now();
      const expiresAt = scimTokenExpiry(now, opts.expiresIn);
      const details = { name: opts.name, expiresAt: new Date(expiresAt).toISOString(), ...(opts.replaces ? { replaces: opts.replaces } : {}) };
      await store.scim.createToken(opts.name, scimTokenHash(secret), now, expiresAt, [{ type: 'scim.token_created', actor: admin, subject: '', details }], opts.replaces);
      console.log(`created SCIM token ${opts.name}, valid until ${new Date(expiresAt).toISOString()}; paste it into the identity provider's provisioning settings as the secret token, it is not shown again:`);
      console.log(secret);
    }));

  withData(token.command('list').description('list the tokens: name, created, expires, state (active, expired, revoked)'))
    .action(async (opts: DataOptions) => withStore(admin, opts, async (store) => {
      const now = Date.now();
      const tokens = await store.scim.tokens();
      for (const t of tokens) {
        const state = t.revokedAt !== null ? `revoked ${new Date(t.revokedAt).toISOString()}` : t.expiresAt <= now ? 'expired' : 'active';
        const groups = t.source === t.name ? '' : `\tgroups of ${t.source}`;
        console.log(`${t.name}\tcreated ${new Date(t.createdAt).toISOString()}\texpires ${new Date(t.expiresAt).toISOString()}\t${state}${groups}`);
      }
      for (const t of scimTokensNearExpiry(tokens, now)) console.error(`warning: ${describeScimTokenExpiry(t, now)}`);
    }));

  withData(token.command('revoke').description('revoke a token: requests with it are refused at once'))
    .argument('<name>', 'the token\'s name', validated(ScimTokenNameSchema, 'token name'))
    .action(async (name: string, opts: DataOptions) => withStore(admin, opts, async (store) => {
      const revoked = await store.scim.revokeToken(name, Date.now(), [{ type: 'scim.token_revoked', actor: admin, subject: '', details: { name } }]);
      if (!revoked) throw new RelayFailure('NOT_FOUND', `no active SCIM token named ${name}`);
      console.log(`revoked SCIM token ${name}`);
    }));
}

function lifetimeDays(value: string): number {
  try {
    return parseScimTokenLifetimeDays(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}
