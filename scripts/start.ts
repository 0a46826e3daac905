/**
 * `npm start` while only the Signal-protocol core exists: a short self-check of the real core (two
 * clinicians' devices, first contact over PQXDH, a reply, a care team) so a newcomer sees it work.
 * The relay (issue 3) and the desktop app (issues 5 and 6) replace this with the product itself.
 */
import { TestCareTeams, ensureSessions, newConversationId, newDevice, newUserId, seal, sendText, TestDirectory, textPayload } from '../test/fixtures/protocolHarness';
import { describeError } from '../shared/errors';

async function main(): Promise<void> {
  console.log('Rounds: secure messaging for clinical care teams');
  console.log('This build contains the Signal-protocol core only; the relay and the desktop app arrive next.');
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
  console.log('\nSelf-check passed. Run `npm test` for the full suite and `npm run bench` for the benchmarks.');
}

main().catch((error: unknown) => {
  console.error(`Self-check failed: ${describeError(error)}`);
  process.exit(1);
});
