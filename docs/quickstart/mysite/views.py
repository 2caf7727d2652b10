from django.http import HttpResponse

from eventtracking import tracker


def enroll(request, course_id):
    tracker.emit('edx.course.enrollment.activated', {'course_id': course_id, 'mode': 'audit'})
    return HttpResponse(f'Enrolled in {course_id}\n')
