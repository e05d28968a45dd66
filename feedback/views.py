from django.shortcuts import render


def general(request):
    return render(request, "feedback/general.html", {})
