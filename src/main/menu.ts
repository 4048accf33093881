/**
 * The application menu. Commands that belong to the UI (open, demo, export, label undo/redo) are not run
 * here: they are forwarded to the focused app window on `clusterlens:menu` as `{ command }` and the renderer
 * does what its own buttons do. Undo/Redo forward the label-edit history; the renderer should fall back to
 * the text field's own undo when a text input has focus (document.execCommand('undo')).
 */
import { Menu, app, dialog, type MenuItemConstructorOptions } from 'electron';
import { IPC_CHANNELS, type MenuCommand, type MenuMessage } from '../preload/contract.js';
import { currentAppWindow } from './window.js';

export interface MenuOptions {
  /** Show developer tools items. */
  isDev: boolean;
  platform?: NodeJS.Platform;
}

/** Send a menu command to the focused app window (or the first one). */
export function sendMenuCommand(command: MenuCommand): void {
  const win = currentAppWindow();
  if (!win || win.webContents.isDestroyed()) return;
  const message: MenuMessage = { command };
  win.webContents.send(IPC_CHANNELS.menu, message);
}

export function menuTemplate(opts: MenuOptions): MenuItemConstructorOptions[] {
  const mac = (opts.platform ?? process.platform) === 'darwin';
  const cmd = (label: string, command: MenuCommand, accelerator?: string): MenuItemConstructorOptions => ({
    label,
    ...(accelerator ? { accelerator } : {}),
    click: () => sendMenuCommand(command),
  });
  const template: MenuItemConstructorOptions[] = [];
  if (mac) {
    template.push({
      label: app.name,
      submenu: [
        { role: 'about' },
        { type: 'separator' },
        { role: 'services' },
        { type: 'separator' },
        { role: 'hide' },
        { role: 'hideOthers' },
        { role: 'unhide' },
        { type: 'separator' },
        { role: 'quit' },
      ],
    });
  }
  template.push({
    label: 'File',
    submenu: [
      cmd('Open Project…', 'open-project', 'CmdOrCtrl+O'),
      cmd('Open Folder…', 'open-folder', 'CmdOrCtrl+Shift+O'),
      cmd('Try Demo', 'demo'),
      { type: 'separator' },
      cmd('Export CSV…', 'export-csv', 'CmdOrCtrl+E'),
      { type: 'separator' },
      mac ? { role: 'close' } : { role: 'quit' },
    ],
  });
  template.push({
    label: 'Edit',
    submenu: [
      cmd('Undo Label Edit', 'undo', 'CmdOrCtrl+Z'),
      cmd('Redo Label Edit', 'redo', mac ? 'Shift+CmdOrCtrl+Z' : 'CmdOrCtrl+Y'),
      { type: 'separator' },
      { role: 'cut' },
      { role: 'copy' },
      { role: 'paste' },
      { role: 'selectAll' },
    ],
  });
  const view: MenuItemConstructorOptions[] = [{ role: 'reload' }];
  if (opts.isDev) view.push({ role: 'forceReload' }, { role: 'toggleDevTools' });
  view.push({ type: 'separator' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' });
  template.push({ label: 'View', submenu: view });
  if (mac) template.push({ role: 'windowMenu' });
  template.push({
    role: 'help',
    submenu: [
      {
        label: 'About Clusterlens',
        click: () => {
          const win = currentAppWindow();
          const options: Electron.MessageBoxOptions = {
            type: 'info',
            title: 'About Clusterlens',
            message: `Clusterlens ${app.getVersion()}`,
            detail: 'Turn a folder of unlabeled images into a labeled dataset: autoencoder, k-means, t-SNE map, bulk labeling, CSV export.',
          };
          void (win ? dialog.showMessageBox(win, options) : dialog.showMessageBox(options));
        },
      },
    ],
  });
  return template;
}

export function setupMenu(opts: MenuOptions): Menu {
  const menu = Menu.buildFromTemplate(menuTemplate(opts));
  Menu.setApplicationMenu(menu);
  return menu;
}
