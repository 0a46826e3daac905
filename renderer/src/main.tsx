import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApi } from './api';
import { App } from './App';
import './styles.css';

// A file dropped anywhere but on a conversation (which attaches it) must not make the window open it and leave Rounds.
// (Dragged text still drops into the message box as usual.)
for (const type of ['dragover', 'drop'] as const) {
  window.addEventListener(type, (e) => {
    if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
  });
}

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root');
const root = createRoot(container);
if (window.rounds) {
  root.render(<StrictMode><App api={createApi(window.rounds)} /></StrictMode>);
} else {
  root.render(<main className="fatal"><h1>Rounds</h1><p>This page must be opened in the Rounds app (or the development harness).</p></main>);
}
