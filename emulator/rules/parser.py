"""Parse a rules expression into a small syntax tree (operators with JavaScript's precedence).

`parse(text)` returns the tree `checker.check` validates and `evaluator.compile_rule` runs;
`dump(node)` prints it as an S-expression (tests pin precedence with it). Regex literals are
compiled here, once, at load time.
"""

from __future__ import annotations

from emulator.rules.lexer import END, NAME, NUMBER, PUNCT, REGEX, STRING, ExpressionError, Token, tokenize
from emulator.rules.regex import RegexError, translate_regex

# Bounds that keep parsing and evaluation far from Python's recursion limit.
MAX_NESTING = 32
MAX_DEPTH = 120
# Binary operators by precedence, loosest first; && and || are kept n-ary.
_LEVELS = (("||",), ("&&",), ("==", "!=", "===", "!=="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))
_LOGICAL = frozenset({"||", "&&"})
_KEYWORDS = {"true": True, "false": False, "null": None}
_EXPECTED_EXPRESSION = "Expected an expression"


class Node:
    """A syntax-tree node: its kind's fields, the offset it reports errors at, and its depth.

    `start` and `end` delimit its text in the expression (set by the parser; parentheses around
    the node itself are outside it), so coverage reports can point at every sub-expression.
    """

    fields: tuple[str, ...] = ()

    def __init__(self, offset: int, *values):
        self.offset = offset
        self.start = self.end = offset
        for name, value in zip(self.fields, values):
            setattr(self, name, value)
        self.depth = 1 + max((child.depth for child in self.children()), default=0)

    def children(self) -> list["Node"]:
        """The direct sub-expressions."""
        out = []
        for name in self.fields:
            value = getattr(self, name)
            if isinstance(value, Node):
                out.append(value)
            elif isinstance(value, list):
                out.extend(item for item in value if isinstance(item, Node))
        return out


class Literal(Node):
    fields = ("value",)


class Regex(Node):
    fields = ("source", "flags", "pattern")


class Var(Node):
    fields = ("name",)


class Unary(Node):
    fields = ("op", "operand")


class Binary(Node):
    fields = ("op", "left", "right")


class Logical(Node):
    fields = ("op", "operands")


class Conditional(Node):
    fields = ("test", "then", "otherwise")


class Member(Node):
    fields = ("obj", "name")


class Index(Node):
    fields = ("obj", "index")


class Call(Node):
    fields = ("callee", "args")


class Array(Node):
    fields = ("items",)


def parse(text: str) -> Node:
    """Parse one expression.

    Raises:
      ExpressionError: a syntax error, with its offset in `text`.
    """
    return _Parser(tokenize(text)).parse()


def method_name(node: Node) -> str | None:
    """The name `node` reads from its object: `x.name` and `x["name"]` (a string literal) are the same.

    Firebase accepts `root["exists"]()` and `auth.token["contains"]("x")` as method calls, and
    refuses `root["exi" + "sts"]()` and `root[$name]()` (recorded), so only a literal names a member.
    """
    if isinstance(node, Member):
        return node.name
    if isinstance(node, Index) and isinstance(node.index, Literal) and isinstance(node.index.value, str):
        return node.index.value
    return None


def dump(node: Node) -> str:
    """The tree as an S-expression, e.g. `(&& (== auth null) (! x))`."""
    if isinstance(node, Literal):
        if node.value is None or isinstance(node.value, bool):
            return {None: "null", True: "true", False: "false"}[node.value]
        return repr(node.value)
    if isinstance(node, Regex):
        return f"/{node.source}/{node.flags}"
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Member):
        return f"(. {dump(node.obj)} {node.name})"
    head = {Unary: lambda n: n.op, Binary: lambda n: n.op, Logical: lambda n: n.op, Conditional: lambda n: "?",
            Index: lambda n: "[]", Call: lambda n: "call", Array: lambda n: "array"}[type(node)](node)
    return "(" + " ".join([head, *(dump(child) for child in node.children())]) + ")"


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0
        self.nesting = 0
        self.last_end = 0  # where the last token taken ends

    def parse(self) -> Node:
        node = self.expression()
        if self.peek().kind != END:
            raise self.unexpected(self.peek(), "Expected an operator or the end of the expression")
        return node

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != END:
            self.i += 1
            self.last_end = token.end
        return token

    def at(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == PUNCT and token.value in ops

    def expect(self, op: str, hint: str) -> Token:
        if not self.at(op):
            raise self.unexpected(self.peek(), hint)
        return self.advance()

    def unexpected(self, token: Token, hint: str) -> ExpressionError:
        if token.kind == END:
            return ExpressionError(token.offset, "Unexpected end of expression", hint)
        shown = token.value if token.kind in (PUNCT, NAME) else _token_text(token)
        return ExpressionError(token.offset, f'Unexpected token "{shown}"', hint)

    def new(self, cls, offset: int, *values, start: int | None = None) -> Node:
        """A node whose text runs from `start` (default: `offset`) to the end of the last token taken."""
        node = cls(offset, *values)
        node.start, node.end = offset if start is None else start, self.last_end
        if node.depth > MAX_DEPTH:
            raise ExpressionError(offset, "Expression too deeply nested",
                                  f"Keep expressions under {MAX_DEPTH} levels deep")
        return node

    def nested(self, parse_inner, offset: int) -> Node:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExpressionError(offset, "Expression too deeply nested", f"Nest at most {MAX_NESTING} levels")
        try:
            return parse_inner()
        finally:
            self.nesting -= 1

    def expression(self) -> Node:
        return self.nested(self.conditional, self.peek().offset)

    def conditional(self) -> Node:
        start = self.peek().offset
        test = self.binary(0)
        if not self.at("?"):
            return test
        mark = self.advance()
        then = self.expression()
        self.expect(":", 'Expected ":" in a ? : expression')
        otherwise = self.expression()
        return self.new(Conditional, mark.offset, test, then, otherwise, start=start)

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        ops, start = _LEVELS[level], self.peek().offset
        left = self.binary(level + 1)
        if ops[0] in _LOGICAL and self.at(*ops):
            mark, operands = self.peek(), [left]
            while self.at(*ops):
                self.advance()
                operands.append(self.binary(level + 1))
            return self.new(Logical, mark.offset, mark.value, operands, start=start)
        while self.at(*ops):
            op = self.advance()
            left = self.new(Binary, op.offset, op.value, left, self.binary(level + 1), start=start)
        return left

    def unary(self) -> Node:
        if self.at("!", "-"):
            op = self.advance()
            operand = self.nested(self.unary, op.offset)
            return self.new(Unary, op.offset, op.value, operand)
        return self.postfix()

    def postfix(self) -> Node:
        start = self.peek().offset
        node = self.primary()
        while True:
            if self.at("."):
                self.advance()
                name = self.advance()
                if name.kind != NAME:
                    raise self.unexpected(name, 'Expected a property or method name after "."')
                node = self.new(Member, name.offset, node, name.value, start=start)
            elif self.at("["):
                mark = self.advance()
                index = self.expression()
                self.expect("]", 'Expected "]"')
                node = self.new(Index, mark.offset, node, index, start=start)
            elif self.at("("):
                mark = self.advance()
                node = self.new(Call, mark.offset, node, self.sequence(")"), start=start)
            else:
                return node

    def sequence(self, closer: str) -> list[Node]:
        items: list[Node] = []
        if self.at(closer):
            self.advance()
            return items
        while True:
            items.append(self.expression())
            if self.at(","):
                self.advance()
                continue
            self.expect(closer, f'Expected "," or "{closer}"')
            return items

    def primary(self) -> Node:
        token = self.advance()
        if token.kind in (NUMBER, STRING):
            return self.new(Literal, token.offset, token.value)
        if token.kind == REGEX:
            source, flags = token.value
            try:
                pattern = translate_regex(source, flags)
            except RegexError as exc:  # at the offending character (after the opening "/"), else the literal
                offset = token.offset if exc.position is None else token.offset + 1 + exc.position
                raise ExpressionError(offset, exc.detail, exc.hint) from None
            return self.new(Regex, token.offset, source, flags, pattern)
        if token.kind == NAME:
            if token.value in _KEYWORDS:
                return self.new(Literal, token.offset, _KEYWORDS[token.value])
            return self.new(Var, token.offset, token.value)
        if token.kind == PUNCT and token.value == "(":
            inner = self.expression()
            self.expect(")", 'Expected ")"')
            return inner
        if token.kind == PUNCT and token.value == "[":
            return self.new(Array, token.offset, self.sequence("]"))
        raise self.unexpected(token, _EXPECTED_EXPRESSION)


def _token_text(token: Token) -> str:
    if token.kind == REGEX:
        return f"/{token.value[0]}/{token.value[1]}"
    return repr(token.value)
