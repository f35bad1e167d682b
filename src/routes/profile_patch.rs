//! The profile fields of a partial update, declared once for every request
//! that carries them (`PATCH /v1/users/me`, `PATCH /v1/admin/users/{id}`),
//! and parsed once into the flows' [`ProfileUpdate`].

use crate::store::ProfileUpdate;
use serde::{Deserialize, Deserializer};

/// A present field is `Some`, even when it is `null`.
pub(crate) fn patch_field<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn into_patch<T: Into<String>>(field: Option<Option<T>>) -> Option<Option<String>> {
    field.map(|value| value.map(Into::into))
}

/// Declares a request struct with every profile field (absent keeps, `null`
/// clears) plus the given extra fields, and its `take_profile`, which moves
/// the profile fields out as a [`ProfileUpdate`]. (A macro, because serde's
/// `flatten` cannot be combined with `deny_unknown_fields`.)
macro_rules! profile_patch {
    ($(#[$meta:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        #[derive(serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        // After the derive: the metas may carry `#[schema(...)]`.
        $(#[$meta])*
        pub struct $name {
            /// The public handle (stored in lower case); `null` removes it. A
            /// handle another user has is 409 `username-taken`.
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::Username>)]
            username: Option<Option<crate::domain::Username>>,
            /// Display name.
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::ProfileText>)]
            name: Option<Option<crate::domain::ProfileText>>,
            /// Given name.
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::ProfileText>)]
            first_name: Option<Option<crate::domain::ProfileText>>,
            /// Family name.
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::ProfileText>)]
            last_name: Option<Option<crate::domain::ProfileText>>,
            /// Phone number, as free text (not verified).
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::ProfileText>)]
            phone: Option<Option<crate::domain::ProfileText>>,
            /// City.
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::ProfileText>)]
            city: Option<Option<crate::domain::ProfileText>>,
            /// Free text about the user, up to 2000 characters.
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::InfoText>)]
            info: Option<Option<crate::domain::InfoText>>,
            /// URL of the user's picture (http or https).
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::AvatarUrl>)]
            avatar_url: Option<Option<crate::domain::AvatarUrl>>,
            /// The language of mail (`null`: follow the request's Accept-Language).
            #[serde(default, deserialize_with = "crate::routes::profile_patch::patch_field")]
            #[schema(value_type = Option<crate::domain::Locale>)]
            locale: Option<Option<crate::domain::Locale>>,
            $($extra)*
        }

        impl $name {
            /// The profile part of the request, as the flows take it.
            pub fn take_profile(&mut self) -> crate::store::ProfileUpdate {
                crate::routes::profile_patch::profile_update(
                    [
                        self.username.take().map(|v| v.map(String::from)),
                        self.name.take().map(|v| v.map(String::from)),
                        self.first_name.take().map(|v| v.map(String::from)),
                        self.last_name.take().map(|v| v.map(String::from)),
                        self.phone.take().map(|v| v.map(String::from)),
                        self.city.take().map(|v| v.map(String::from)),
                        self.info.take().map(|v| v.map(String::from)),
                        self.avatar_url.take().map(|v| v.map(String::from)),
                    ],
                    self.locale.take(),
                )
            }
        }
    };
}

pub(crate) use profile_patch;

/// The fields in the macro's order.
pub(crate) fn profile_update(
    [username, display_name, first_name, last_name, phone, city, info, avatar_url]: [Option<Option<String>>;
        8],
    locale: Option<Option<crate::domain::Locale>>,
) -> ProfileUpdate {
    ProfileUpdate {
        username,
        display_name,
        first_name,
        last_name,
        phone,
        city,
        info,
        avatar_url,
        locale: into_patch(locale.map(|l| l.map(|l| l.as_str().to_string()))),
    }
}
