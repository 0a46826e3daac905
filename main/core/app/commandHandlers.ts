import type { z } from 'zod';
import type { COMMANDS, CommandName, CommandOutput, SessionState } from '../../../shared/contract';
import type { DeviceAddress } from '../../../shared/ids';
import type { LockController } from '../lock/LockController';
import type { MessagingClient } from '../messaging/MessagingClient';
import { AnnouncedKeys } from './AnnouncedKeys';
import { attachmentHandlers } from './attachmentHandlers';
import { messagePage, messagesAround } from './messageWindow';
import { RoundsError } from '../errors';
import type { ProfileSessions } from './ProfileSessions';
import type { SsoSignIns } from './SsoSignIns';
import { identityViews, messageViews } from './views';
import { MAX_ROLE_SEARCH_LIMIT } from '../../../shared/wire/roles';
import { MAX_DIRECTORY_SEARCH_LIMIT } from '../../../shared/wire/directory';

/** One handler per command of the contract: a command without a handler does not compile. */
export type Handlers = { [C in CommandName]: (input: z.infer<(typeof COMMANDS)[C]['input']>) => Promise<CommandOutput<C>> | CommandOutput<C> };

/** What the handlers reach in the app. */
export interface CommandHost {
  readonly lockController: LockController;
  state(): SessionState;
  lock(cause: 'manual'): Promise<SessionState>;
  settings(): CommandOutput<'settings.get'>;
  updateSettings(changes: z.infer<(typeof COMMANDS)['settings.update']['input']>): CommandOutput<'settings.update'>;
  clipboardCopied(sha256: string): void;
  exportAudit(range: { from?: number | undefined; to?: number | undefined }): CommandOutput<'audit.export'>;
  exportRelayAudit(from: number, to: number, username: string | undefined): Promise<CommandOutput<'audit.exportRelay'>>;
}

/**
 * The map from each command of `shared/contract.ts` to what it does; RoundsApp#invoke has parsed the
 * input against the command's schema before a handler runs, and checks the output after.
 */
export function createCommandHandlers(app: CommandHost, sessions: ProfileSessions, sso: SsoSignIns): Handlers {
  const client = (): MessagingClient => sessions.open().client;
  const announced = new AnnouncedKeys();
  return {
    'session.state': () => app.state(),
    'session.lock': () => app.lock('manual'),
    'activity.report': () => {
      app.lockController.activity();
      return {};
    },
    'settings.get': () => app.settings(),
    'settings.update': (changes) => app.updateSettings(changes),
    'clipboard.copied': ({ sha256 }) => {
      app.clipboardCopied(sha256);
      return {};
    },
    'announcements.fresh': ({ keys }) => {
      const state = app.state();
      // Nothing to announce with no profile open (the window says nothing there).
      return { fresh: state.phase === 'signedOut' ? [] : announced.take(state.profile.id, keys) };
    },
    'audit.export': ({ from, to }) => app.exportAudit({ from, to }),
    'audit.exportRelay': ({ from, to, username }) => app.exportRelayAudit(from, to, username),
    'account.devices': async () => {
      const self = client().address.deviceId;
      return (await client().ownDevices()).map(({ deviceId, name }) => ({ deviceId, name, thisDevice: deviceId === self }));
    },
    'profile.changePassphrase': async ({ currentPassphrase, newPassphrase }) => {
      await sessions.changePassphrase(currentPassphrase, newPassphrase);
      return {};
    },
    'profile.switch': async () => {
      await sessions.switchProfile();
      announced.forget();
      return app.state();
    },
    'profile.unlock': async ({ profileId, passphrase }) => {
      await sessions.unlock(profileId, passphrase);
      return app.state();
    },
    'profile.signIn': async ({ profileId, passphrase, password, totpCode }) => {
      await sessions.signIn(profileId, passphrase, password, totpCode);
      return app.state();
    },
    'enroll.begin': ({ relayUrl, username, enrollmentCode }) => sessions.beginEnrollment(relayUrl, username, enrollmentCode),
    'enroll.complete': async ({ enrollmentId, ...details }) => {
      await sessions.completeEnrollment(enrollmentId, details);
      return app.state();
    },
    'account.addDevice': async (details) => {
      await sessions.addDevice(details);
      return app.state();
    },
    'sso.provider': async ({ relayUrl }) => ({ providerName: await sso.provider(relayUrl) }),
    'sso.begin': ({ relayUrl, passphrase, deviceName }) => sso.newWorkstation(relayUrl, passphrase, deviceName),
    'sso.signInAgain': () => sso.signInAgain(),
    'sso.unlock': ({ profileId, passphrase }) => sso.unlockAndSignIn(profileId, passphrase),
    'sso.finish': async ({ signInId, abandonIfAway }) => ({ waited: await sso.finish(signInId, { abandonIfAway: abandonIfAway === true }), state: app.state() }),
    'sso.cancel': () => {
      sso.cancel();
      return {};
    },
    'conversations.list': () => client().queries.conversationList(),
    'conversations.openDirect': ({ userId }) => ({ conversationId: client().openDirect(userId) }),
    'conversations.markRead': ({ conversationId }) => ({ count: client().markRead(conversationId).length }),
    'messages.page': ({ conversationId, limit, before, after }) => messagePage(client(), conversationId, limit, before, after),
    'messages.around': ({ conversationId, messageId, limit }) => messagesAround(client(), conversationId, messageId, limit),
    'messages.search': ({ query, limit }) => messageViews(client(), client().queries.search(query, limit)),
    'messages.send': async ({ conversationId, text, urgent, replyTo, urgentReason, escalation, attachments }) => {
      const reply = replyTo ? { replyTo } : {};
      // Issue 19: urgent needs a reason from the organisation's list (UrgentMessages checks it is one).
      if (urgent && !urgentReason) throw new RoundsError('URGENT_REASON_REQUIRED', 'choose why this message is urgent');
      const choice = urgent && urgentReason ? { reason: urgentReason, ...(escalation ? { ladder: escalation } : {}) } : undefined;
      // Photos and documents (issue 20) go as any message does (role, urgency, coverage), once they are uploaded.
      if (attachments) return { messageId: await client().sendWithAttachments(conversationId, text, attachments, { ...reply, ...(choice ? { urgent: choice } : {}) }) };
      if (!choice) return { messageId: await client().send(conversationId, text, reply) };
      return { messageId: await client().sendUrgent(conversationId, text, choice, reply) };
    },
    'messages.acknowledge': ({ messageId }) => {
      client().acknowledge(messageId);
      return {};
    },
    'urgent.options': () => client().urgent.options(),
    'messages.retry': async () => {
      await client().flushOutbox();
      return { pending: client().queries.pendingCount() };
    },
    'careTeams.create': ({ title, members }) => ({ conversationId: client().createCareTeam(title, members) }),
    'careTeams.rename': ({ conversationId, title }) => {
      client().renameCareTeam(conversationId, title);
      return {};
    },
    'careTeams.addMembers': ({ conversationId, members }) => {
      client().addCareTeamMembers(conversationId, members);
      return {};
    },
    'careTeams.removeMember': ({ conversationId, userId }) => {
      client().removeCareTeamMember(conversationId, userId);
      return {};
    },
    'directory.list': () => client().directory(),
    'directory.search': ({ query, limit }) => client().searchDirectory(query, limit ?? MAX_DIRECTORY_SEARCH_LIMIT),
    'contacts.identities': ({ userId }) => {
      const c = client();
      return identityViews(c.contactIdentities(userId), (s) => c.safetyNumber(s.address).scannable);
    },
    'contacts.acknowledgeIdentityChange': async ({ userId, safetyNumbersSeen }) => ({ acknowledged: await client().acknowledgeIdentityChange(userId, safetyNumbersSeen) }),
    'presence.set': (update) => client().presence.setOwn(update),
    'presence.get': ({ userIds }) => client().presence.read(userIds),
    'roles.search': ({ query, limit }) => client().roles.search(query, limit ?? MAX_ROLE_SEARCH_LIMIT),
    'roles.open': async ({ roleId }) => ({ conversationId: await client().roleConversations.open(roleId) }),
    'roles.detail': ({ roleId }) => client().roles.detail(roleId),
    'roles.shifts': async ({ roleId, from, to }) => (await client().roles.shifts(roleId, from, to)),
    'roles.addShift': ({ roleId, userId, startsAt, endsAt }) => client().roles.addShift(roleId, { userId, startsAt, endsAt }),
    'roles.removeShift': ({ roleId, shiftId }) => client().roles.removeShift(roleId, shiftId),
    'contacts.markVerified': async ({ userId, deviceId, verified }) => {
      const address: DeviceAddress = { userId, deviceId };
      await client().markVerified(address, verified);
      return {};
    },
    ...attachmentHandlers(() => client().attachments),
  };
}
