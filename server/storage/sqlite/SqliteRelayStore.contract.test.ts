import { relayStoreContract } from '../../../test/contract/relayStoreContract';
import { removeDir, tempDataDir } from '../../../test/fixtures/relayProcess';
import { openStore } from '../../openStore';

relayStoreContract('SQLite (SQLCipher)', async () => {
  const dir = tempDataDir();
  const stores = [openStore(dir)];
  return {
    store: stores[0]!,
    another: async () => {
      const second = openStore(dir);
      stores.push(second);
      return second;
    },
    dispose: async () => {
      for (const store of stores) await store.close();
      removeDir(dir);
    },
  };
});
