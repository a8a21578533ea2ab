//! Who a request acts as: the account it is scoped to, and the API key or operator behind it.

/// The account an authenticated request acts for.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    /// The account every query is scoped to.
    pub account_id: i64,
    /// Who authenticated the request.
    pub caller: Caller,
    /// The virtual agent an API key belongs to: what it sends is that agent's.
    pub virtual_agent_id: Option<i64>,
}

/// An API key, or an operator logged in to the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The id of the API key used.
    ApiKey(i64),
    /// The id of the logged-in operator.
    Operator(i64),
}

impl Principal {
    /// The logged-in operator, when the request comes from the web UI.
    pub fn operator_id(&self) -> Option<i64> {
        match self.caller {
            Caller::Operator(id) => Some(id),
            Caller::ApiKey(_) => None,
        }
    }
}
