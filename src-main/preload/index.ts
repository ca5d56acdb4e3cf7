// The renderer's only door to the main process; the typed bridge grows with the desktop issue.
import { contextBridge } from 'electron';

contextBridge.exposeInMainWorld('agencia', { platform: process.platform });
