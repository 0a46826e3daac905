/** The Electron main process entry (bundled to dist/electron/main.cjs by `npm run build`). */
import { defaultPaths, startShell } from './shell';

void startShell(defaultPaths(__dirname));
