//! Triangle geometry shared by the surface queries: one triangle's closest point and ray
//! hit, exact triangle-pair intersection, and Shewchuk's orientation predicates.

pub(crate) mod geometry;
pub(crate) mod intersect;
pub(crate) mod predicates;
