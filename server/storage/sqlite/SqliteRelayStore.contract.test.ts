import { relayStoreContract } from '../../../test/contract/relayStoreContract';
import { removeDir, tempDataDir } from '../../../test/fixtures/relayProcess';
import { openStore } from '../../RelayServer';

relayStoreContract('SQLite (SQLCipher)', async () => {
  const dir = tempDataDir();
  const store = openStore(dir);
  return {
    store,
    dispose: async () => {
      await store.close();
      removeDir(dir);
    },
  };
});
