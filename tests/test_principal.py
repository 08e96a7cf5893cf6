from wardbook.auth.principal import LOCAL_DEVELOPER, Principal, acting_as, current_principal


def test_default_principal_is_local_developer() -> None:
    assert current_principal() is LOCAL_DEVELOPER
    assert current_principal().unrestricted


def test_acting_as_binds_and_restores() -> None:
    nurse = Principal(kind="user", subject="nina", roles=frozenset({"nurse"}))
    with acting_as(nurse):
        assert current_principal() is nurse
        assert not current_principal().unrestricted
    assert current_principal() is LOCAL_DEVELOPER
