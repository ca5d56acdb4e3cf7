// The main process's own words (tray, notifications, dialogs), in the same two languages as the UI.
import type { Alert } from '../src-engine/contracts/compliance.ts';

const es = {
  tray: {
    tooltip: {
      green: 'Agencia Desk: todo en orden',
      yellow: 'Agencia Desk: revisa las conexiones',
      red: 'Agencia Desk: el motor tiene problemas',
    },
    open: 'Abrir Agencia Desk',
    pauseSending: 'Pausar envíos',
    quit: 'Salir',
  },
  alerts: {
    title: 'Agencia Desk',
    quota: (threshold: number) => `Has usado el ${threshold} % de los mensajes del plan.`,
    low_credit: 'Queda poco crédito. Recarga para no interrumpir los envíos.',
    instance_banned: 'Un número de WhatsApp ha sido bloqueado.',
    agent_failed: 'Una ejecución de agente ha fallado.',
    ledger_offline:
      'Sin sincronizar con el ledger central desde hace demasiado: el excedente está bloqueado.',
    ledger_rejected: 'El ledger central rechazó movimientos de este equipo.',
  },
  update: {
    title: 'Actualización lista',
    message: (version: string) => `La versión ${version} de Agencia Desk está descargada.`,
    detail: 'Reinicia para instalarla; si no, se instalará al salir.',
    restart: 'Reiniciar ahora',
    later: 'Más tarde',
  },
  fatal: 'Agencia Desk no pudo arrancar',
};

export type MainText = typeof es;

const en: MainText = {
  tray: {
    tooltip: {
      green: 'Agencia Desk: all good',
      yellow: 'Agencia Desk: check the connections',
      red: 'Agencia Desk: the engine has problems',
    },
    open: 'Open Agencia Desk',
    pauseSending: 'Pause sending',
    quit: 'Quit',
  },
  alerts: {
    title: 'Agencia Desk',
    quota: (threshold: number) => `You have used ${threshold} % of the plan's messages.`,
    low_credit: 'Credit is running low. Top up so sending does not stop.',
    instance_banned: 'A WhatsApp number has been banned.',
    agent_failed: 'An agent run has failed.',
    ledger_offline: 'Not synced with the hosted ledger for too long: overage is blocked.',
    ledger_rejected: 'The hosted ledger refused entries from this desktop.',
  },
  update: {
    title: 'Update ready',
    message: (version: string) => `Agencia Desk ${version} has been downloaded.`,
    detail: 'Restart to install it; otherwise it installs when you quit.',
    restart: 'Restart now',
    later: 'Later',
  },
  fatal: 'Agencia Desk could not start',
};

/** Spanish unless the language chosen in the app (`es`/`en`), or else the OS's, is English. */
export function mainText(osLocale: string): MainText {
  return /^es\b/i.test(osLocale) || !/^en\b/i.test(osLocale) ? es : en;
}

/** The notification sentence for an alert, in the desktop's language (the engine's own text is English). */
export function alertBody(t: MainText, alert: Alert): string {
  if (alert.kind === 'quota')
    return alert.threshold === null ? alert.message : t.alerts.quota(alert.threshold);
  return t.alerts[alert.kind];
}
