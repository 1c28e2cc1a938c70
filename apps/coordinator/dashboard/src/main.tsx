import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { takeAdminTokenFromUrl } from './admin-token';
import { App } from './App';
import './styles.css';

const initialToken = takeAdminTokenFromUrl(window.location, window.history, window.sessionStorage);
createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <App initialToken={initialToken} />
  </StrictMode>,
);
