from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create, api_key_revoke


@admin.register(User)
class AppUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Preferences", {"fields": ("time_zone",)}))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Create (the key is shown once, in the confirmation message), list and revoke API keys."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    raw_id_fields = ("user",)
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return (*self.readonly_fields, "user") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            ApiKey.objects.filter(pk=obj.pk).update(name=obj.name)
            return
        created, raw_key = api_key_create(user=obj.user, name=obj.name, actor=request.user)
        obj.pk = created.pk
        self.message_user(
            request,
            f"The new API key for {obj.user.get_username()} is {raw_key} (shown only this once).",
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Revoke instead: the row stays so the audit log's mentions of it keep their meaning.
        return False

    # Admin actions are offered to anyone who may see the list unless they name a permission.
    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} API key(s).")
