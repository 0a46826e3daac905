#!/usr/bin/env node
// The `rounds-audit` command (offline verification of audit bundles): runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../auditMain.ts');
