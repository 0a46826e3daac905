import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApi } from './api';
import { App } from './App';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root');
const root = createRoot(container);
if (window.rounds) {
  root.render(<StrictMode><App api={createApi(window.rounds)} /></StrictMode>);
} else {
  root.render(<main className="fatal"><h1>Rounds</h1><p>This page must be opened in the Rounds app (or the development harness).</p></main>);
}
