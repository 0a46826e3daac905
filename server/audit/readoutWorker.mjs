// The worker thread of a big `rounds-server audit export` (readoutThread.ts): runs its TypeScript through tsx, as the commands do.
import { register } from 'tsx/esm/api';

register();
await import('./readoutWorker.ts');
