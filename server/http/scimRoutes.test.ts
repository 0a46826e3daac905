/*
 * /scim/v2's own limits, on a Fastify app with the routes and a real store (embedded SQLite in a temp dir):
 * each token's request rate (429 with Retry-After, other tokens unaffected), an expired token refused
 * (401, audited), and a change applying the store's control events at once.
 */
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test/fixtures/tempDirs';
import { openStore } from '../openStore';
import { InMemoryRateLimiter } from '../RateLimiter';
import { scimTokenHash } from '../scim/scimTokens';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import { registerScimRoutes } from './scimRoutes';

describe('/scim/v2 limits', () => {
  const dir = useTempDirs();
  let store: SqliteRelayStore;
  let changes: number;
  let app: ReturnType<typeof Fastify>;
  /** The relay's clock; tokens are made now and live a day. */
  let now: number;
  const DAY_MS = 24 * 3600_000;

  beforeEach(async () => {
    store = openStore(dir());
    changes = 0;
    now = Date.now();
    for (const name of ['entra', 'okta']) await store.scim.createToken(name, scimTokenHash(`token-${name}`), now, now + DAY_MS, []);
    app = Fastify();
    await registerScimRoutes(app, {
      store, now: () => now, rateLimiter: new InMemoryRateLimiter(), afterChange: () => changes++, address: () => '192.0.2.7', rate: { amount: 20, windowMs: 60_000 },
      deactivations: { amount: 2, windowMs: 3600_000 },
    });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
  });

  const get = (token: string) => app.inject({ method: 'GET', url: '/scim/v2/Users?count=0', headers: { authorization: `Bearer ${token}` } });

  it('holds each token to its own rate, with a SCIM 429 and Retry-After', async () => {
    for (let i = 0; i < 20; i++) expect((await get('token-entra')).statusCode).toBe(200);
    const limited = await get('token-entra');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers['content-type']).toContain('application/scim+json');
    expect(limited.json()).toMatchObject({ status: '429', scimType: 'tooMany' });
    expect((await get('token-okta')).statusCode).toBe(200);
    expect(changes).toBe(0);
  });

  it("refuses a token's deactivations past its hourly budget: the accounts stay active, the refusal is flagged", async () => {
    const send = (method: string, url: string, body?: unknown) => app.inject({ method: method as 'POST', url, headers: { authorization: 'Bearer token-okta', 'content-type': 'application/scim+json' }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const created = await send('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `leaver${n}@hospital.example`, externalId: `leaver-${n}` });
      ids.push((created.json() as { id: string }).id);
    }
    const disable = (id: string) => send('PATCH', `/scim/v2/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] });
    expect((await disable(ids[0]!)).statusCode).toBe(200);
    expect((await send('DELETE', `/scim/v2/Users/${ids[1]!}`)).statusCode).toBe(204);
    const refused = await disable(ids[2]!);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ status: '429', detail: expect.stringContaining('deactivated 2 accounts within the last hour') });
    expect((await send('DELETE', `/scim/v2/Users/${ids[3]!}`)).statusCode).toBe(429);
    expect(await Promise.all(ids.map(async (id) => (await store.userById(id as never))?.status))).toEqual(['deactivated', 'deactivated', 'pending', 'pending']);
    const records = await store.auditRecordsAfter(0, 100, { types: ['scim.refused'] });
    expect(records.map((r) => [r.flagged, r.details])).toEqual([[true, expect.objectContaining({ reason: 'deactivations', token: 'okta', limit: 2 })]]);
    // Another token's budget is its own; edits that deactivate nobody are never refused.
    expect((await send('PATCH', `/scim/v2/Users/${ids[2]!}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { displayName: 'Still here' } }] })).statusCode).toBe(200);
  });

  it('shows each token only the groups of its own source: another token\'s are 404, a replacing token keeps them', async () => {
    const as = (token: string) => (method: string, url: string, body?: unknown) => app.inject({ method: method as 'POST', url: `/scim/v2${url}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    const [entra, okta] = [as('token-entra'), as('token-okta')];
    const user = (await entra('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'nurse@hospital.example', externalId: 'n-1' })).json() as { id: string };
    const group = (await entra('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'ICU nurses', externalId: 'g-1', members: [{ value: user.id }] })).json() as { id: string };
    const emptied = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'members', value: [] }] };

    expect((await okta('GET', '/Groups')).json()).toMatchObject({ totalResults: 0 });
    expect((await okta('GET', `/Groups?filter=${encodeURIComponent('displayName eq "ICU nurses"')}`)).json()).toMatchObject({ totalResults: 0 });
    for (const [method, body] of [['GET'], ['PATCH', emptied], ['PUT', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Mine now' }], ['DELETE']] as const) {
      expect((await okta(method, `/Groups/${group.id}`, body)).statusCode).toBe(404);
    }
    expect((await entra('GET', `/Groups/${group.id}`)).json()).toMatchObject({ displayName: 'ICU nurses', members: [{ value: user.id }] });
    expect(await store.auditRecordsAfter(0, 100, { types: ['group.updated', 'group.deleted'] })).toEqual([]);

    // Rotating entra's token: the new one, made to replace it, changes the same groups.
    await store.scim.createToken('entra-2027', scimTokenHash('token-entra-2027'), now, now + DAY_MS, [], 'entra');
    expect((await as('token-entra-2027')('PATCH', `/Groups/${group.id}`, emptied)).statusCode).toBe(204);
    expect((await entra('GET', `/Groups/${group.id}`)).json()).not.toHaveProperty('members.0');
  });

  it('refuses an expired token with SCIM\'s 401 and audits it by name, changing nothing', async () => {
    expect((await get('token-entra')).statusCode).toBe(200);
    now += DAY_MS;
    const refused = await app.inject({
      method: 'POST', url: '/scim/v2/Users', headers: { authorization: 'Bearer token-entra', 'content-type': 'application/scim+json' },
      payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'late@hospital.example', externalId: 'late' }),
    });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(refused.headers['content-type']).toContain('application/scim+json');
    expect(refused.json()).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401', detail: expect.stringContaining('expired') });
    expect(await store.userByUsername('late@hospital.example')).toBeUndefined();
    const records = await store.auditRecordsAfter(0, 100, { types: ['scim.refused'] });
    expect(records.map((r) => [r.flagged, r.details])).toEqual([[true, expect.objectContaining({ reason: 'expired', token: 'entra' })]]);
    expect(JSON.stringify(records)).not.toContain('token-entra');
    expect(changes).toBe(0);
  });

  it('applies control events after a change, not after a read', async () => {
    const created = await app.inject({
      method: 'POST', url: '/scim/v2/Users', headers: { authorization: 'Bearer token-okta', 'content-type': 'application/scim+json' },
      payload: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'a@hospital.example', externalId: 'a' }),
    });
    expect(created.statusCode).toBe(201);
    expect(changes).toBe(1);
    expect(created.headers.location).toMatch(/^http:\/\/localhost(:\d+)?\/scim\/v2\/Users\/[0-9a-f-]{36}$/);
  });
});
