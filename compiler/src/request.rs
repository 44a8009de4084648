//! What the route table reads from a request.

use std::net::IpAddr;

/// The GraphQL operation of a request body, as far as it is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GraphqlInfo<'a> {
    /// The body has not been read. A lookup that reaches a GraphQL match
    /// returns [`crate::Lookup::NeedsBody`].
    #[default]
    NotRead,
    /// The body was read but holds no usable operation (not a POST, not
    /// JSON, too large, or no operation selected). GraphQL matches fail.
    Unavailable,
    /// The selected operation.
    Operation(crate::graphql::Operation<'a>),
}

/// A request as the route table sees it. Borrowed, so building one does not
/// allocate.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// Request method.
    pub method: &'a http::Method,
    /// Host as received (Host header or `:authority`), in any case, with or
    /// without a port.
    pub host: &'a str,
    /// Normalized path, without the query.
    pub path: &'a str,
    /// Raw query string, without the `?`.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// Client address, after trusted-proxy processing.
    pub client_addr: IpAddr,
    /// ISO 3166-1 alpha-2 country of the client, uppercase, when known.
    pub country: Option<&'a str>,
    /// The GraphQL operation of the body.
    pub graphql: GraphqlInfo<'a>,
    /// Arrival time, for time-window matches.
    pub now: jiff::Timestamp,
}

/// Maximum number of template variables in one path template.
pub const MAX_CAPTURES: usize = 16;

/// Byte ranges of the request path captured by template variables, in the
/// order the variables appear in the template. Lives on the stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Captures {
    len: u8,
    spans: [(u32, u32); MAX_CAPTURES],
}

impl Captures {
    /// Appends the span `start..end` of the path. Returns false, capturing
    /// nothing, once [`MAX_CAPTURES`] spans are stored.
    pub fn push(&mut self, start: usize, end: usize) -> bool {
        let index = usize::from(self.len);
        if index == MAX_CAPTURES {
            return false;
        }
        self.spans[index] = (start as u32, end as u32);
        self.len += 1;
        true
    }

    /// Returns the value of variable `index` within `path`.
    pub fn get<'p>(&self, index: usize, path: &'p str) -> Option<&'p str> {
        if index >= usize::from(self.len) {
            return None;
        }
        let (start, end) = self.spans[index];
        path.get(start as usize..end as usize)
    }

    /// Number of captured variables.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every span.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}
