import { Option, type Command } from 'commander';
import { DisplayNameSchema, UsernameSchema } from '../../shared/wire/relay';
import { ContactOptionSchema, DepartmentOptionSchema, JobTitleOptionSchema, updateDirectoryFields, type DirectoryFieldsPatch } from '../directory/adminDirectory';
import { dataOption, databasePasswordFileOption, keyFileOption, siteDatabaseOption, validated, withStore, type DataOptions } from '../cliOptions';

/* `rounds-server user update` and the directory options `user add` shares with it (issue 18). */

export const departmentOption = () => new Option('--department <text>', 'department, as colleagues see it in the directory ("" clears it)').argParser(validated(DepartmentOptionSchema, 'department'));
export const jobTitleOption = () => new Option('--job-title <text>', 'job title, e.g. "Charge nurse" (not the relay role; "" clears it)').argParser(validated(JobTitleOptionSchema, 'job title'));
export const contactOption = () => new Option('--contact <text>', 'pager or extension, e.g. "Bleep 4471" ("" clears it)').argParser(validated(ContactOptionSchema, 'contact'));

/** The directory fields an admin command was given (the options left out are not touched); `user add` names its display name apart. */
export function directoryFieldsOf(opts: DirectoryFieldsPatch, fields: readonly (keyof DirectoryFieldsPatch)[] = ['displayName', 'department', 'jobTitle', 'contact']): DirectoryFieldsPatch {
  return Object.fromEntries(fields.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
}

export function addUserUpdateCommand(user: Command, admin: string): void {
  user.command('update')
    .description("change an account's display name or directory fields (department, job title, contact); audited")
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .option('--display-name <name>', 'the name colleagues see', validated(DisplayNameSchema, 'display name'))
    .addOption(departmentOption()).addOption(jobTitleOption()).addOption(contactOption())
    .action(async (username: string, opts: DataOptions & DirectoryFieldsPatch) => withStore(admin, opts, async (store) => {
      const changed = await updateDirectoryFields(store, admin, username, directoryFieldsOf(opts));
      console.log(changed.length === 0 ? `nothing to change for ${username}` : `updated ${username}: ${changed.join(', ')}`);
    }));
}
