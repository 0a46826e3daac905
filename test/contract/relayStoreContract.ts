/**
 * What every RelayStore promises, written once against the interface (issue 17: one contract suite, two
 * stores). `relayStoreContract(name, open)` registers the suite for a store: SQLite runs it in
 * server/storage/sqlite/SqliteRelayStore.contract.test.ts, PostgreSQL in
 * server/storage/postgres/PostgresRelayStore.contract.test.ts, each unchanged. Every test has two stores on
 * one set of data (two relay instances): what one writes the other must see, and the races run across both,
 * so a store that serialises its own writes in one process still has to hold across two.
 * The parts: accounts, enrollment, throttling and emergency access (relayStoreAccounts.ts); devices, keys
 * and control events (relayStoreDevices.ts); envelope queues and retention (relayStoreQueues.ts); the audit
 * log and its tree (relayStoreAudit.ts); the hospital's directory: provisioning and search (relayStoreDirectory.ts);
 * SCIM's tokens, visible accounts and groups (relayStoreScim.ts);
 * single sign-on: begun sign-ins and linked identities (relayStoreSso.ts); presence (relayStorePresence.ts);
 * attachment blobs (relayStoreBlobs.ts).
 */
import { afterEach, beforeEach, describe } from 'vitest';
import type { RelayStore } from '../../server/storage/RelayStore';
import { relayStoreAccounts } from './relayStoreAccounts';
import { relayStoreAudit } from './relayStoreAudit';
import { relayStoreBlobs } from './relayStoreBlobs';
import { relayStoreDevices } from './relayStoreDevices';
import { relayStoreDirectory } from './relayStoreDirectory';
import { relayStoreQueues } from './relayStoreQueues';
import { relayStoreRoles } from './relayStoreRoles';
import { relayStoreScim } from './relayStoreScim';
import { relayStoreSso } from './relayStoreSso';
import { relayStoreEscalations } from './relayStoreEscalations';
import { relayStorePresence } from './relayStorePresence';
import { ContractStores, keyUpload } from './relayStoreStores';

/** A fresh, empty store, and how to dispose of it (and of whatever holds its data) afterwards. */
export interface OpenedStore {
  readonly store: RelayStore;
  /** Another store on the same data, as a second relay instance would open it. */
  another(): Promise<RelayStore>;
  dispose(): Promise<void>;
}

export function relayStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`RelayStore contract: ${name}`, () => {
    const stores = new ContractStores();
    let opened: OpenedStore;

    beforeEach(async () => {
      opened = await open();
      stores.store = opened.store;
      stores.other = await opened.another();
      stores.keys ??= await keyUpload(5);
    });
    afterEach(async () => {
      // Whatever a test did, every record it wrote links to the one before.
      await stores.expectChainHolds();
      await opened.dispose();
    });

    describe('accounts', () => relayStoreAccounts(stores));
    describe('devices and keys', () => relayStoreDevices(stores));
    describe('envelope queues', () => relayStoreQueues(stores));
    describe('audit log', () => relayStoreAudit(stores));
    describe('the hospital\'s directory', () => relayStoreDirectory(stores));
    describe('SCIM provisioning', () => relayStoreScim(stores));
    describe('single sign-on', () => relayStoreSso(stores));
    describe('attachment blobs', () => relayStoreBlobs(stores));
    describe('on-call roles', () => relayStoreRoles(stores));
    describe('acknowledgements and escalation ladders', () => relayStoreEscalations(stores));
    describe('presence', () => relayStorePresence(stores));
  });
}
