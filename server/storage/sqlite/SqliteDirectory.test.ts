import { describe, expect, it } from 'vitest';
import { openRelayDatabase } from '../../../test/fixtures/relayProcess';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { openStore } from '../../openStore';

/*
 * Accounts written before the directory (or by an older relay on the same file) have no search text: the
 * store fills it when it opens, folding case and accents as it does for every other account.
 */
describe('the SQLite directory for accounts from before it', () => {
  const dir = useTempDirs();

  it('fills their search text when the store opens', async () => {
    const data = dir();
    const first = openStore(data);
    await first.createUser({ id: '00000000-0000-4000-8000-000000000001' as never, username: 'emuller', displayName: 'Émile Müller', role: 'clinician', status: 'active', createdAt: 0, lastActiveAt: 0 }, 'h', 1, []);
    await first.close();
    const raw = openRelayDatabase(data);
    raw.exec('UPDATE users SET search_text = NULL');
    raw.close();
    const again = openStore(data);
    try {
      expect((await again.searchDirectory('EMILE muller', 10)).map((u) => u.username)).toEqual(['emuller']);
    } finally {
      await again.close();
    }
  });
});
