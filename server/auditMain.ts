import { runAuditCli } from './audit/verifyCli';

process.exitCode = await runAuditCli(process.argv.slice(2));
