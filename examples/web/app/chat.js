// The chat panel: the room's messages (ours come back from the server like everyone's, so all
// members see one order), a field to write, and a count of unread messages on the Chat button
// while the panel is closed.

const $ = (selector) => document.querySelector(selector);
const MAX_TEXT = 2000;

export class Chat {
  constructor(client) {
    this.client = client;
    this.unread = 0;
    this.panel = $('#chat');
    this.log = $('#chat-log');
    this.input = $('#chat-input');
    this.button = $('#toggle-chat');
    this.time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

    client.on('chat', (m) => this.#add(m));
    client.on('error', ({ code, message }) => {
      if (code === 'bad_chat' || (code === 'not_allowed' && /chat/i.test(message))) this.#note(`Not sent: ${message}`);
      if (code === 'rate_limited') this.#note('Slow down: a message was not sent');
    });
    $('#chat-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const text = this.input.value;
      if (!text.trim()) return;
      if (text.length > MAX_TEXT) {
        this.#note(`Messages are limited to ${MAX_TEXT} characters`);
        return;
      }
      if (this.client.sendChat(text)) this.input.value = '';
      else this.#note('Not connected: the message was not sent');
    });
    this.button.addEventListener('click', () => this.toggle());
    $('#chat-close').addEventListener('click', () => this.toggle(false));
    this.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        this.toggle(false);
        this.button.focus();
      }
    });
  }

  get open() {
    return !this.panel.hidden;
  }

  toggle(open = !this.open) {
    this.panel.hidden = !open;
    document.body.toggleAttribute('data-chat-open', open);
    this.button.setAttribute('aria-expanded', String(open));
    this.button.setAttribute('aria-pressed', String(open));
    if (open) {
      this.unread = 0;
      this.#renderUnread();
      this.input.focus();
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  #add({ from, name, text, time, self }) {
    const item = document.createElement('li');
    item.className = self ? 'message self' : 'message';
    item.dataset.from = from;
    const head = document.createElement('div');
    head.className = 'message-head';
    const who = document.createElement('span');
    who.className = 'message-name';
    who.textContent = self ? 'You' : (name || 'Guest');
    const when = document.createElement('time');
    when.dateTime = new Date(time).toISOString();
    when.textContent = this.time.format(new Date(time));
    head.append(who, when);
    const body = document.createElement('p');
    body.className = 'message-text';
    body.textContent = text; // never HTML: people write what they like
    item.append(head, body);
    this.#append(item);
    if (!this.open && !self) {
      this.unread++;
      this.#renderUnread();
    }
  }

  #note(text) {
    const item = document.createElement('li');
    item.className = 'message note';
    item.textContent = text;
    this.#append(item);
  }

  #append(item) {
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    this.log.append(item);
    if (atBottom) this.log.scrollTop = this.log.scrollHeight;
  }

  #renderUnread() {
    const badge = $('#unread');
    badge.hidden = this.unread === 0;
    badge.textContent = this.unread > 99 ? '99+' : String(this.unread);
    this.button.setAttribute('aria-label', this.unread ? `Chat, ${this.unread} unread` : 'Chat');
  }
}
