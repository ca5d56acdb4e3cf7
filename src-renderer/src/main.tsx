import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { BridgeContext, ClientContext } from './client/context.ts';
import { createEngineClient, type EngineClient } from './client/engine-client.ts';
import { createHttpTransport } from './client/http-transport.ts';
import { createIpcTransport } from './client/ipc-transport.ts';
import { pageConnection } from './client/page-connection.ts';
import { DICTIONARIES } from './i18n/index.ts';
import { useUi } from './state/ui.ts';
import './styles.css';

/** IPC in Electron (the preload bridge is there); HTTP + WebSocket to the local engine in a browser. */
function connect(): EngineClient | undefined {
  if (window.agencia) return createEngineClient(createIpcTransport(window.agencia));
  const conn = pageConnection({
    location,
    storage: (() => {
      try {
        return sessionStorage;
      } catch {
        return undefined;
      }
    })(),
    replaceUrl: (url) => history.replaceState(history.state, '', url),
  });
  return conn && createEngineClient(createHttpTransport(conn));
}

function NoToken() {
  const t = DICTIONARIES[useUi((s) => s.lang)];
  return (
    <main className="no-token">
      <h1>{t.noToken.title}</h1>
      <p>{t.noToken.body}</p>
    </main>
  );
}

const client = connect();
client?.onConnection((s) => useUi.getState().setConnection(s));

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {client ? (
      <ClientContext.Provider value={client}>
        <BridgeContext.Provider value={window.agencia ?? null}>
          <App />
        </BridgeContext.Provider>
      </ClientContext.Provider>
    ) : (
      <NoToken />
    )}
  </StrictMode>,
);
