from services.identity.domain.personal_data import is_personal


def test_names_and_contact_details_are_personal_plans_and_stores_are_not() -> None:
    assert is_personal("first_name") and is_personal("Email") and is_personal("date_of_birth")
    assert not is_personal("store_id") and not is_personal("plan") and not is_personal("timezone")
