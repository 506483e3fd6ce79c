/**
 * A sorted, filtered list of rows kept in step with changing data, touching only what changed.
 *
 * Each item has an id, a value and the element built from it. Setting an item whose value is the same
 * object does nothing; a new value rebuilds that item's element only and moves it to its place. A filter
 * takes the rows it hides out of the list and puts them back where they belong; no other row is rebuilt or
 * moved. So a view can apply a stream's changes, a filter or a new page as they come, at the cost of the
 * rows they concern. Many items at once (a first load) can be built later, top first, a few dozen per task,
 * so the first rows show at once and the page stays responsive while the rest are built. Imports nothing.
 */

const BUILD_CHUNK = 100; // rows built per task when building later: about 10 ms

export class RowList {
  /**
   * @param {HTMLElement} list  the element whose children are the rows (e.g. an <ol>).
   * @param {object} options
   * @param {(a: {id: string, value: *}, b: {id: string, value: *}) => number} options.compare  the order;
   *   never 0 for two different ids.
   * @param {(id: string, value: *) => HTMLElement} options.build  the element of one item.
   * @param {string} [options.focusable]  a selector of the control inside a row that keeps the focus when
   *   its row is rebuilt.
   */
  constructor(list, { compare, build, focusable = null }) {
    this.list = list;
    this.compare = compare;
    this.build = build;
    this.focusable = focusable;
    this.items = new Map(); // id -> {id, value, el, shown}; el is null until built
    this.order = []; // items, sorted
    this.accepts = () => true;
    this.shownCount = 0;
    this.unbuilt = 0;
    this.timer = null;
  }

  /** How many items there are, shown or not. */
  get size() {
    return this.items.size;
  }

  /** How many items the filter shows. */
  get shown() {
    return this.shownCount;
  }

  has(id) {
    return this.items.has(id);
  }

  /** The value of an item, or undefined. */
  get(id) {
    return this.items.get(id)?.value;
  }

  /** The row of an item, or undefined (also while it waits to be built). */
  element(id) {
    return this.items.get(id)?.el ?? undefined;
  }

  /** Every item in order: fn(id, value, element or null while it waits to be built). */
  forEach(fn) {
    for (const item of this.order) fn(item.id, item.value, item.el);
  }

  /**
   * Add an item, or give it a new value (its row is rebuilt and moved to its place; nothing else changes).
   *
   * @param {string} id
   * @param {*} value
   * @param {{later?: boolean}} [options]  later: build the row in a later task (see buildNow).
   * @returns {boolean} whether anything changed.
   */
  set(id, value, { later = false } = {}) {
    const old = this.items.get(id);
    if (old && old.value === value) return false;
    const focused = old?.el ? this._focusedIn(old.el) : false;
    if (old) this._take(old);
    const item = { id, value, el: null, shown: this.accepts(value) };
    this.items.set(id, item);
    const index = this._position(item);
    this.order.splice(index, 0, item);
    if (item.shown) this.shownCount += 1;
    if (later) {
      this.unbuilt += 1;
      this._schedule();
      return true;
    }
    this._build(item, index);
    if (focused) item.el.querySelector(this.focusable)?.focus({ preventScroll: true });
    return true;
  }

  /** Build the first `max` shown rows still waiting to be built (the rest follow, a chunk per task). */
  buildNow(max) {
    this._buildWaiting(max, true);
  }

  /** Remove an item (and its row). @returns {boolean} whether it was there. */
  delete(id) {
    const item = this.items.get(id);
    if (!item) return false;
    this._take(item);
    return true;
  }

  /** Remove every item. */
  clear() {
    this.items.clear();
    this.order = [];
    this.shownCount = 0;
    this.unbuilt = 0;
    clearTimeout(this.timer);
    this.timer = null;
    this.list.replaceChildren();
  }

  /**
   * Show only the items `accepts(value)` keeps. Rows that stay shown or stay hidden are not touched.
   *
   * @param {(value: *) => boolean} accepts
   */
  filter(accepts) {
    this.accepts = accepts;
    let cursor = this.list.firstChild;
    this.shownCount = 0;
    for (const item of this.order) {
      item.shown = accepts(item.value);
      if (item.shown) this.shownCount += 1;
      if (!item.el) continue; // placed when it is built
      if (item.el === cursor) cursor = cursor.nextSibling;
      if (!item.shown) item.el.remove();
      else if (item.el.parentNode !== this.list || item.el.nextSibling !== cursor) this.list.insertBefore(item.el, cursor);
    }
  }

  // ---- private -------------------------------------------------------------------------------

  _take(item) {
    const index = this.order.indexOf(item);
    if (index >= 0) this.order.splice(index, 1);
    this.items.delete(item.id);
    if (item.shown) this.shownCount -= 1;
    if (item.el) item.el.remove();
    else this.unbuilt -= 1;
  }

  /** Build the row of the item at `index` and put it in its place if it is shown. */
  _build(item, index) {
    item.el = this.build(item.id, item.value);
    if (item.shown) this.list.insertBefore(item.el, this._nextShownElement(index));
  }

  /** Build up to `max` waiting rows, top first: only shown ones, or any. */
  _buildWaiting(max, shownOnly) {
    for (let i = 0; i < this.order.length && max > 0 && this.unbuilt > 0; i += 1) {
      const item = this.order[i];
      if (item.el || (shownOnly && !item.shown)) continue;
      this.unbuilt -= 1;
      this._build(item, i);
      max -= 1;
    }
  }

  _schedule() {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this._buildWaiting(BUILD_CHUNK, false);
      if (this.unbuilt > 0) this._schedule();
    });
  }

  /** Where `item` goes in the order (binary search). */
  _position(item) {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compare(this.order[middle], item) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The element of the first shown, built item after the one at `index`, or null (the end of the list). */
  _nextShownElement(index) {
    for (let i = index + 1; i < this.order.length; i += 1) {
      if (this.order[i].shown && this.order[i].el) return this.order[i].el;
    }
    return null;
  }

  _focusedIn(el) {
    return Boolean(this.focusable) && el.contains(document.activeElement);
  }
}
