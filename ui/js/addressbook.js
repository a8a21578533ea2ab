/** TODO placeholder until the contacts engineer's address book is merged. */

/** Renders the address book page in `element`. */
export function renderAddressBook(element) {
  element.textContent = 'Address book';
}
