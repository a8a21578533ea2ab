/**
 * Thumbs up or down on a virtual agent's answer, with a reason for a thumbs down: one per answer per operator,
 * changeable (`POST /api/v1/messages/{id}/feedback`). The thread shows the operator's own feedback when it opens.
 *
 * Test ids: message-feedback (data-rating), feedback-up, feedback-down, feedback-reason.
 */

import { api, session } from './api.js';
import { t } from './i18n.js';
import { h } from './dom.js';

const REASONS = ['wrong', 'incomplete', 'off_topic', 'tone', 'should_hand_over'];

/** The operator's own feedback in a conversation, by message id. */
export async function myFeedback(conversationId) {
  const author = `operator:${session.operator?.id}`;
  const list = await api('GET', `/api/v1/conversations/${conversationId}/feedback`);
  return new Map(list.data.filter((f) => f.author === author).map((f) => [f.message_id, f]));
}

/** The controls under an answer, showing `given` (the operator's feedback on it, if any). */
export function feedbackControls(messageId, given) {
  const box = h('div', { class: 'msg-feedback', 'data-testid': 'message-feedback', 'data-rating': given?.rating || '' });
  const send = async (rating, reason) => {
    const saved = await api('POST', `/api/v1/messages/${messageId}/feedback`, { rating, reason: reason || null });
    show(saved);
  };
  const up = h('button', { type: 'button', class: 'fb', 'data-testid': 'feedback-up', 'aria-label': t('feedback.up'), title: t('feedback.up'), onclick: () => send('up') }, '👍');
  const down = h('button', { type: 'button', class: 'fb', 'data-testid': 'feedback-down', 'aria-label': t('feedback.down'), title: t('feedback.down'), onclick: () => send('down') }, '👎');
  const reason = h('select', {
    'data-testid': 'feedback-reason',
    'aria-label': t('feedback.reason'),
    hidden: true,
    onchange: () => send('down', reason.value),
  }, h('option', { value: '' }, t('feedback.reason')), REASONS.map((r) => h('option', { value: r }, t(`feedback.reason_${r}`))));
  function show(current) {
    box.dataset.rating = current?.rating || '';
    up.setAttribute('aria-pressed', String(current?.rating === 'up'));
    down.setAttribute('aria-pressed', String(current?.rating === 'down'));
    reason.hidden = current?.rating !== 'down';
    reason.value = current?.reason || '';
  }
  show(given);
  box.append(up, down, reason);
  return box;
}
