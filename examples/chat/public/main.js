// main.js — the classic Socket.IO chat client, with rooms (see ../chat.c).
(() => {
  const COLORS = ['#e21400', '#91580f', '#f8a700', '#f78b00', '#58dc00', '#287b00',
    '#a8f07a', '#4ae8c4', '#3b88eb', '#3824aa', '#a700ff', '#d300e7'];
  const TYPING_TIMER_LENGTH = 400; // ms
  const $ = (sel) => document.querySelector(sel);
  const usernameInput = $('.usernameInput');
  const messages = $('.messages');
  const inputMessage = $('.inputMessage');
  const loginPage = $('.login.page');
  const chatPage = $('.chat.page');
  const currentRoom = $('.currentRoom');
  const roomCount = $('.roomCount');
  const participantCount = $('.participantCount');
  const roomInput = $('.roomInput');

  const socket = io();
  let username;
  let connected = false;
  let typing = false;
  let lastTypingTime;

  const color = (name) => {
    let hash = 7;
    for (const ch of name) hash = ch.charCodeAt(0) + (hash << 5) - hash;
    return COLORS[Math.abs(hash % COLORS.length)];
  };
  const scroll = () => { messages.scrollTop = messages.scrollHeight; };
  const log = (text) => {
    const li = document.createElement('li');
    li.className = 'log';
    li.textContent = text;
    messages.appendChild(li);
    scroll();
  };
  // The count stays in the room bar from the login on; the log keeps the history.
  const participants = (n) => {
    participantCount.textContent = n === 1 ? '1 participant' : `${n} participants`;
    log(n === 1 ? "there's 1 participant" : `there are ${n} participants`);
  };
  // Typing is possible only while the server can take it: disabled until
  // the login answer, and again from a disconnect to the next login.
  const setOnline = (on) => {
    connected = on;
    inputMessage.disabled = !on;
    roomInput.disabled = !on;
    inputMessage.placeholder = on ? 'Type here...' : 'Disconnected: reconnecting…';
    if (on && username) inputMessage.focus();
  };
  const addMessage = (data, isTyping) => {
    const old = [...messages.querySelectorAll('.typing')].find((el) => el.dataset.username === data.username);
    if (old) old.remove();
    const li = document.createElement('li');
    li.className = 'message' + (isTyping ? ' typing' : '');
    li.dataset.username = data.username;
    const u = document.createElement('span');
    u.className = 'username';
    u.textContent = data.username;
    u.style.color = color(data.username);
    const body = document.createElement('span');
    body.className = 'messageBody';
    body.textContent = isTyping ? 'is typing' : data.message;
    li.append(u, body);
    messages.appendChild(li);
    scroll();
  };
  const removeTyping = (data) => {
    [...messages.querySelectorAll('.typing')]
      .filter((el) => el.dataset.username === data.username).forEach((el) => el.remove());
  };

  const setUsername = () => {
    username = usernameInput.value.trim();
    if (!username) return;
    loginPage.style.display = 'none';
    chatPage.style.display = '';
    inputMessage.focus();
    socket.emit('add user', username);
  };
  const sendMessage = () => {
    const message = inputMessage.value.trim();
    if (!message || !connected) return;
    inputMessage.value = '';
    addMessage({ username, message });
    socket.emit('new message', message);
  };
  const updateTyping = () => {
    if (!connected) return;
    if (!typing) {
      typing = true;
      socket.emit('typing');
    }
    lastTypingTime = Date.now();
    setTimeout(() => {
      if (Date.now() - lastTypingTime >= TYPING_TIMER_LENGTH && typing) {
        socket.emit('stop typing');
        typing = false;
      }
    }, TYPING_TIMER_LENGTH);
  };

  chatPage.style.display = 'none';
  usernameInput.focus();
  window.addEventListener('keydown', (e) => {
    if (e.target.classList.contains('roomInput')) return;
    if (e.key === 'Enter') {
      if (username) {
        sendMessage();
        socket.emit('stop typing');
        typing = false;
      } else {
        setUsername();
      }
    }
  });
  inputMessage.addEventListener('input', updateTyping);
  $('.roomForm').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('.roomInput');
    const room = input.value.trim();
    input.value = '';
    if (room && connected) socket.emit('join room', room);
  });

  socket.on('login', (data) => {
    setOnline(true);
    log('Welcome to iogate chat');
    currentRoom.textContent = data.room;
    participants(data.numUsers);
  });
  socket.on('new message', (data) => addMessage(data));
  socket.on('user joined', (data) => { log(`${data.username} joined`); participants(data.numUsers); });
  socket.on('user left', (data) => { log(`${data.username} left`); participants(data.numUsers); removeTyping(data); });
  socket.on('typing', (data) => addMessage(data, true));
  socket.on('stop typing', (data) => removeTyping(data));
  socket.on('room joined', (data) => {
    currentRoom.textContent = data.room;
    roomCount.textContent = `(${data.numUsers} here)`;
    log(`you are in room ${data.room}`);
  });
  socket.on('user joined room', (data) => log(`${data.username} came to ${data.room}`));
  socket.on('user left room', (data) => { log(`${data.username} left ${data.room}`); removeTyping(data); });
  socket.on('disconnect', () => {
    setOnline(false);
    log('you have been disconnected');
  });
  socket.io.on('reconnect', () => {
    log('you have been reconnected');
    if (username) socket.emit('add user', username);
  });
})();
