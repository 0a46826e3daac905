/**
 * `npm start` until the desktop app exists: a short self-check of the real protocol core (two
 * clinicians' devices, first contact over PQXDH, a reply, a care team), then the relay on its embedded
 * SQLite in .rounds-data/relay, on loopback. The desktop app (issues 5 and 6) joins it here.
 */
import { TestCareTeams, ensureSessions, newConversationId, newDevice, newUserId, seal, sendText, TestDirectory, textPayload } from '../test/fixtures/protocolHarness';
import { resolve } from 'node:path';
import { describeError } from '../shared/errors';
import { DEFAULT_CONFIG } from '../server/RelayConfig';
import { RelayServer, openStore } from '../server/RelayServer';

async function main(): Promise<void> {
  console.log('Rounds: secure messaging for clinical care teams');
  console.log('This build has the Signal-protocol core and the relay; the desktop app arrives next.');
  console.log('Running the core self-check (real libsignal, in-memory storage)...\n');

  const directory = new TestDirectory();
  const teams = new TestCareTeams();
  const drA = newUserId();
  const nurseB = newUserId();
  const a = await newDevice(directory, drA, 1, { careTeams: teams });
  const b = await newDevice(directory, nurseB, 1, { careTeams: teams });
  const c = await newDevice(directory, newUserId(), 1, { careTeams: teams });
  const conversation = newConversationId();

  const [first] = await sendText(a, directory, [nurseB], conversation, 'self-check: first contact');
  const received = await b.core.decrypt(first);
  console.log(`  1:1 first contact (PQXDH)      ${received.payload.type === 'text' ? 'ok' : 'FAILED'}`);
  const [reply] = await sendText(b, directory, [drA], conversation, 'self-check: reply');
  await a.core.decrypt(reply);
  console.log('  1:1 reply (Double Ratchet)     ok');

  const team = newConversationId();
  teams.set(team, [drA, nurseB, c.address.userId]);
  await ensureSessions(a, directory, [b.address, c.address]);
  const sent = await a.core.encryptCareTeam(team, [b.address, c.address], textPayload(team, 'self-check: care team'));
  for (const envelope of seal(a, [...sent.senderKeyShares, ...sent.messages])) await (envelope.recipient.userId === nurseB ? b : c).core.decrypt(envelope);
  console.log('  care team (sender keys)        ok');
  const number = a.core.safetyNumber(b.address);
  console.log(`  safety number A<->B            ${number.groups.join(' ')}`);
  console.log('\nSelf-check passed.\n');

  const dataDir = resolve('.rounds-data/relay');
  const relay = new RelayServer(openStore(dataDir), DEFAULT_CONFIG);
  const address = await relay.listen({ host: '127.0.0.1', port: Number(process.env.ROUNDS_RELAY_PORT ?? 8443) });
  console.log(`Relay listening on ${address} (data: ${dataDir}; loopback only).`);
  console.log('Create an account:  npm run server -- user add --data .rounds-data/relay --username jdoe --display-name "Dr. Jane Doe" --role clinician');
  console.log('Stop with Ctrl+C.');
  const stop = () => void relay.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`Self-check failed: ${describeError(error)}`);
  process.exit(1);
});
