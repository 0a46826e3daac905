// A worker thread of `rounds-audit verify` (eventLinesThreads.ts): runs its TypeScript through tsx, as the commands do.
import { register } from 'tsx/esm/api';

register();
await import('./eventLinesWorker.ts');
