import Database from '@signalapp/sqlcipher';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import { growAuditTree } from '../audit/AuditTree';
import { openStore } from '../openStore';
import { checkAuditTree } from './auditTreeCheck';

describe('audit check of the stored tree', () => {
  let dir = '';
  afterEach(() => removeDir(dir));

  it('says a tile missing altogether is damage to rebuild, instead of stopping on it', async () => {
    dir = tempDataDir();
    const store = openStore(dir);
    await store.appendAudit(Array.from({ length: 300 }, (_, i) => ({ type: 'login.success' as const, actor: `u${i}.1`, subject: `u${i}`, details: {} })));
    await growAuditTree(store);
    await store.close();
    const db = new Database(join(dir, 'relay.db'));
    db.exec(`PRAGMA key = "x'${readFileSync(join(dir, 'database.key'), 'utf8').trim()}'"`);
    db.exec('DELETE FROM audit_tiles WHERE level = 0 AND idx = 0');
    db.close();
    const reopened = openStore(dir);
    try {
      const check = await checkAuditTree(reopened, dir, false);
      expect(check.ok).toBe(false);
      expect(check.failures).toContain("the stored tree is damaged: the tree's tile tile/0/000 is missing or too short (rounds-server audit check --rebuild-tree rebuilds it from the records)");
      expect(check.lines).toEqual(expect.arrayContaining(check.failures));
    } finally {
      await reopened.close();
    }
  });
});
