from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.humantasks.selectors import inbox_for


@login_required
def inbox_home(request: HttpRequest) -> HttpResponse:
    page = inbox_for(user=request.user, limit=50)
    return render(request, "inbox/home.html", {"page": page})
